"""Webhook fixtures: the real app on a real store, email to a local SMTP server, signed posts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from notifier.api.app import create_app
from notifier.api.deps import Services
from notifier.channels.registry import build_channels
from notifier.config import Settings
from notifier.domain.ingest import CustomerData
from notifier.domain.models import CustomerId
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.engine.ingest.ledger_service import Ledger
from notifier.store.store import Store
from notifier.templates import Company, Renderer
from tests.conftest import FakeClock
from tests.fakes.smtp_server import SmtpFake
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN

PUBLIC_URL = "https://notifier.acme.example"
SECRET_KEY = "unsubscribe-signing-key-for-tests"
OPS = "ops@acme.example"
HELP = "Acme: avisos de tus pedidos. STOP para salir, START para volver."
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def webhook_settings(smtp_port: int, **overrides: object) -> Settings:
    """Return settings with a public URL, Twilio credentials, email to ``smtp_port``, ops."""
    values: dict[str, object] = {
        "public_url": PUBLIC_URL, "secret_key": SecretStr(SECRET_KEY),
        "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_tls": "none",
        "email_from": "Acme <avisos@acme.example>", "ops_email": OPS, "help_text": HELP,
        "company_name": "Acme",
    }  # fmt: skip
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]  # a test table of known fields


def signature(path: str, params: Mapping[str, str], token: str = AUTH_TOKEN) -> str:
    """Return the X-Twilio-Signature Twilio would send for ``params`` posted to ``path``."""
    return str(RequestValidator(token).compute_signature(PUBLIC_URL + path, params))


@dataclass
class Hooks:
    """The app as Twilio and browsers see it, and what it changed."""

    client: httpx.AsyncClient
    store: Store
    clock: FakeClock
    ledger: Ledger
    smtp: SmtpFake
    settings: Settings
    wakes: list[int] = field(default_factory=list)
    dispatcher: Dispatcher | None = None

    def reconfigure(self) -> None:
        """Build the dispatcher again on ``settings``, after a test changed them (the API
        reads them per request; the dispatcher takes its groups when built)."""
        d = self.dispatcher
        assert d is not None, "this fixture has no dispatcher"
        s = self.settings
        self.dispatcher = Dispatcher(d.store, d.channels, d.composer, d.clock, s.dispatch, s.scan)

    async def dispatched(self) -> int:
        """Send what the outbox holds (replies forwarded to ops); return rows claimed."""
        assert self.dispatcher is not None, "this fixture has no dispatcher"
        return await self.dispatcher.dispatch_until_idle()

    async def twilio(
        self, path: str, params: Mapping[str, str], sig: str | None = None
    ) -> httpx.Response:
        """POST ``params`` to ``path`` signed as Twilio signs (or with ``sig`` as given)."""
        headers = {"X-Twilio-Signature": signature(path, params) if sig is None else sig}
        return await self.client.post(path, data=dict(params), headers=headers)

    async def customer(self, cid: str, **values: str | None) -> None:
        """Add a customer with a phone and an email (``values`` override)."""
        base: dict[str, str | None] = {
            "name": "Ana Pérez", "locale": "es-AR", "timezone": "America/Argentina/Buenos_Aires",
            "phone": "+5491155550101", "email": f"{cid}@example.com",
        }  # fmt: skip
        base.update(values)
        await self.ledger.put_customers([CustomerData(CustomerId(cid), base)])


async def serve(
    settings: Settings,
    store: Store,
    clock: FakeClock,
    wakes: list[int],
) -> tuple[httpx.AsyncClient, Ledger]:
    """Return a client on the real app for these services, and their ledger."""
    ledger = Ledger(store, clock)
    svc = Services(
        settings=settings, store=store, clock=clock, ledger=ledger,
        wake_dispatcher=lambda: wakes.append(1),
    )  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(svc))
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL), ledger


@pytest.fixture
async def hooks(store: Store, clock: FakeClock) -> AsyncIterator[Hooks]:
    smtp = SmtpFake()
    smtp.start()
    settings = webhook_settings(smtp.port)
    channels = build_channels(settings.providers, demo=False)
    wakes: list[int] = []
    client, ledger = await serve(settings, store, clock, wakes)
    renderer = Renderer(TEMPLATES, default_locale=settings.default_locale)
    composer = Composer(
        renderer, Company.from_settings(settings.messages), settings.messages, settings.links
    )
    dispatcher = Dispatcher(store, channels, composer, clock, settings.dispatch, settings.scan)
    async with client:
        yield Hooks(client, store, clock, ledger, smtp, settings, wakes, dispatcher)
    await channels.aclose()
    smtp.stop()
