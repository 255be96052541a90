"""A scan-and-dispatch rig: a real store, the shipped rules and templates, local providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from notifier.channels.registry import build_channels
from notifier.config import Settings
from notifier.domain.ingest import CustomerData, InteractionData, PromiseData
from notifier.domain.models import ChannelName, CustomerId, Direction, Source
from notifier.domain.rules.model import RuleSet
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.engine.ingest.ledger_service import Ledger
from notifier.engine.planning.scanner import ScanReport, scan
from notifier.engine.rulefiles.check import defaults_from_settings, load_rules
from notifier.store.store import Store
from notifier.templates import Company, Renderer
from tests.conftest import FakeClock
from tests.fakes.smtp_server import SmtpFake
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioFake

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Rig:
    store: Store
    clock: FakeClock
    ledger: Ledger
    rules: RuleSet
    dispatcher: Dispatcher
    settings: Settings
    smtp: SmtpFake
    twilio: TwilioFake

    def reconfigure(self) -> None:
        """Hand the composer the message and link settings again, after a test changed them."""
        composer = self.dispatcher.composer
        self.dispatcher.composer = replace(
            composer, messages=self.settings.messages, links=self.settings.links
        )

    async def scan(self) -> ScanReport:
        return await scan(self.store, self.rules, self.clock.now())

    async def tick(self) -> int:
        """Scan, then dispatch until nothing is due; return how many rows were claimed."""
        await self.scan()
        return await self.dispatcher.dispatch_until_idle()

    async def customer(
        self, cid: str, *, last_used: ChannelName | None = "sms", **values: str | None
    ) -> None:
        base: dict[str, str | None] = {
            "name": "Ana Pérez", "locale": "es-AR", "timezone": "America/Argentina/Buenos_Aires",
            "phone": "+5491155550101", "email": f"{cid}@example.com",
        }  # fmt: skip
        base.update(values)
        await self.ledger.put_customers([CustomerData(CustomerId(cid), base)])
        if last_used is not None:
            at = self.clock.now() - timedelta(days=2)
            await self.ledger.add_interactions(
                [InteractionData(CustomerId(cid), last_used, Direction.INBOUND, at)]
            )

    async def promise(
        self, cid: str, ref: str, due_in: timedelta, kind: str = "delivery", **attributes: str
    ) -> int:
        """Add a promise due ``due_in`` from now; ``attributes`` add to its carrier and id."""
        extra = {"carrier": "oca", "order_id": ref, **attributes}
        data = PromiseData(CustomerId(cid), kind, self.clock.now() + due_in, ref, attributes=extra)
        (result,) = await self.ledger.put_promises([data], Source.API)
        return int(getattr(result, "id"))  # noqa: B009


@pytest.fixture(scope="session")
def shipped() -> tuple[Renderer, RuleSet]:
    """The shipped templates and rules, checked once per session (the check renders all)."""
    settings = Settings(rules_dir=str(ROOT / "rules"), templates_dir=str(ROOT / "templates"))
    renderer = Renderer.from_settings(settings.render)
    load = load_rules(ROOT / "rules", renderer, defaults_from_settings(settings.rules))
    assert load.rules is not None, [str(p) for p in load.problems]
    return renderer, load.rules


@pytest.fixture
async def rig(
    store: Store, clock: FakeClock, shipped: tuple[Renderer, RuleSet]
) -> AsyncIterator[Rig]:
    clock.advance(timedelta(hours=3))  # 12:00 in Buenos Aires: outside quiet hours
    smtp = SmtpFake()
    smtp.start()
    twilio = TwilioFake()
    await twilio.start()
    settings = Settings(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
        email_from="Acme <avisos@acme.example>", twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN), twilio_from="+15017122661",
        twilio_base_url=twilio.url, ops_email="ops@acme.example",
        rules_dir=str(ROOT / "rules"), templates_dir=str(ROOT / "templates"),
        max_attempts=3,
    )  # fmt: skip
    renderer, rules = shipped
    channels = build_channels(settings.providers, demo=False)
    composer = Composer(
        renderer, Company.from_settings(settings.messages), settings.messages, settings.links
    )
    dispatcher = Dispatcher(store, channels, composer, clock, settings.dispatch, settings.scan)
    yield Rig(store, clock, Ledger(store, clock), rules, dispatcher, settings, smtp, twilio)
    await channels.aclose()
    await twilio.stop()
    smtp.stop()
