"""Local provider servers for the channel tests, and the contract check on what we send."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

from notifier.channels.smtp import SmtpEmail, SmtpSettings
from notifier.channels.twilio_api import TwilioCredentials
from notifier.channels.twilio_sms import SmsSettings, TwilioSms
from notifier.channels.twilio_whatsapp import TwilioWhatsApp, WhatsAppSettings
from notifier.channels.x_dm import OAuth1Credentials, XDirectMessage, XSettings
from tests.fakes.http_server import Recorded
from tests.fakes.smtp_server import SmtpFake
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioFake
from tests.fakes.x_server import XFake

CONTRACTS = Path(__file__).resolve().parents[4] / "shared" / "contracts"

CheckContract = Callable[[Recorded], None]


@pytest.fixture
async def twilio_fake() -> AsyncIterator[TwilioFake]:
    fake = TwilioFake()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def x_fake() -> AsyncIterator[XFake]:
    fake = XFake()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def smtp_fake() -> Iterator[SmtpFake]:
    fake = SmtpFake()
    fake.start()
    yield fake
    fake.stop()


def twilio_credentials(fake: TwilioFake, token: str = AUTH_TOKEN) -> TwilioCredentials:
    return TwilioCredentials(ACCOUNT_SID, token, fake.url)


@pytest.fixture
async def sms(twilio_fake: TwilioFake) -> AsyncIterator[TwilioSms]:
    channel = TwilioSms(
        SmsSettings(
            twilio_credentials(twilio_fake),
            from_number="+15017122661",
            messaging_service_sid=None,
            validity_period=timedelta(hours=4),
            timeout=timedelta(seconds=2),
        )
    )
    yield channel
    await channel.aclose()


@pytest.fixture
async def whatsapp(twilio_fake: TwilioFake) -> AsyncIterator[TwilioWhatsApp]:
    channel = TwilioWhatsApp(
        WhatsAppSettings(
            twilio_credentials(twilio_fake),
            from_number="+14155238886",
            validity_period=timedelta(hours=4),
            content_sids={
                "delivery_late": "HX" + "a" * 32,
                "delivery_late.pt-BR": "HX" + "b" * 32,
            },
            timeout=timedelta(seconds=2),
        )
    )
    yield channel
    await channel.aclose()


def oauth1(fake: XFake) -> OAuth1Credentials:
    return OAuth1Credentials(
        fake.consumer_key, fake.consumer_secret, fake.access_token, fake.access_token_secret
    )


@pytest.fixture
async def x_dm(x_fake: XFake) -> AsyncIterator[XDirectMessage]:
    channel = XDirectMessage(
        XSettings(oauth1=oauth1(x_fake), base_url=x_fake.url, timeout=timedelta(seconds=2))
    )
    yield channel
    await channel.aclose()


@pytest.fixture
async def email(smtp_fake: SmtpFake) -> AsyncIterator[SmtpEmail]:
    channel = SmtpEmail(
        SmtpSettings(
            host="127.0.0.1",
            port=smtp_fake.port,
            email_from="Acme Avisos <avisos@acme.example>",
            tls="none",
            reply_to="soporte@acme.example",
            timeout=timedelta(seconds=5),
        )
    )
    yield channel
    await channel.aclose()


def _checker(name: str, host: str) -> CheckContract:
    path = CONTRACTS / name
    if not path.exists():
        pytest.skip(f"{path} is missing: the provider contracts live in ../shared/contracts")
    spec = OpenAPI.from_file_path(str(path))

    def check(recorded: Recorded) -> None:
        request = MockRequest(
            host_url=host,
            method=recorded.method,
            path=recorded.path,
            args=_multi(recorded.query),
            headers=recorded.headers,
            data=recorded.body,
            content_type=recorded.content_type.split(";")[0] or "application/json",
        )
        spec.validate_request(request)

    return check


def _multi(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return dict(pairs)


@pytest.fixture(scope="session")
def twilio_contract() -> CheckContract:
    return _checker("twilio_messages.openapi.json", "https://api.twilio.com")


@pytest.fixture(scope="session")
def x_contract() -> CheckContract:
    return _checker("x_dm.openapi.json", "https://api.x.com")
