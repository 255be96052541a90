"""Unsubscribe links through the consent service, on a fake store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr

from notifier.channels.unsubscribe import link_token
from notifier.config import Settings
from notifier.domain.models import ChannelName, Customer, CustomerId
from notifier.engine.ingest.consent import Consent, Subscription
from tests.conftest import FakeClock

KEY = "k" * 32
ANA = Customer(CustomerId("c-1"), "es-AR", "America/Argentina/Buenos_Aires")


@dataclass
class FakeStore:
    customers: dict[str, Customer] = field(default_factory=lambda: {"c-1": ANA})
    revoked_at: datetime | None = None
    consents: list[tuple[str, ChannelName, bool]] = field(default_factory=list)

    async def get_customer(self, customer_id: str) -> Customer | None:
        return self.customers.get(customer_id)

    async def links_revoked_at(self, customer_id: str) -> datetime | None:
        return self.revoked_at

    async def set_consent(
        self, customer_id: str, channel: ChannelName, allowed: bool, now: datetime
    ) -> bool:
        self.consents.append((customer_id, channel, allowed))
        return True


def consent(store: FakeStore, key: str | None = KEY) -> Consent:
    settings = Settings(secret_key=SecretStr(key) if key else None)
    return Consent(store, FakeClock(), settings.links)


def token(customer_id: str = "c-1", at: datetime | None = None) -> str:
    return link_token(KEY.encode(), customer_id, "email", at or FakeClock().now())


async def test_a_genuine_link_opts_the_customer_out_of_its_channel() -> None:
    store = FakeStore()
    assert await consent(store).resolve(token()) == Subscription(ANA, "email")
    assert store.consents == []  # reading the link changes nothing
    assert await consent(store).opt_out(token()) == Subscription(ANA, "email")
    assert store.consents == [("c-1", "email", False)]


async def test_forged_unknown_or_unverifiable_links_are_invalid() -> None:
    store = FakeStore()
    assert await consent(store).opt_out("not-a-token") == "invalid"
    assert await consent(store).opt_out(token("c-404")) == "invalid"
    assert await consent(store, key=None).opt_out(token()) == "invalid"
    assert store.consents == []


async def test_a_link_issued_before_the_revocation_is_revoked_a_later_one_works() -> None:
    issued = FakeClock().now()
    store = FakeStore(revoked_at=issued)
    assert await consent(store).opt_out(token(at=issued)) == "revoked"
    assert store.consents == []
    later = await consent(store).opt_out(token(at=issued + timedelta(seconds=1)))
    assert later == Subscription(ANA, "email")
