"""The channel table: configured, unavailable with the reason, or console in demo mode."""

from __future__ import annotations

import os

import pytest

from notifier.channels.console import ConsoleChannel
from notifier.channels.registry import build_channels
from notifier.channels.smtp import SmtpEmail
from notifier.channels.twilio_sms import TwilioSms
from notifier.channels.twilio_whatsapp import TwilioWhatsApp
from notifier.channels.x_dm import XDirectMessage
from notifier.config import ProviderSettings, Settings

TWILIO = {"twilio_account_sid": "AC1", "twilio_auth_token": "token"}
X_QUARTET = {
    "x_consumer_key": "ck",
    "x_consumer_secret": "cs",
    "x_access_token": "1-at",
    "x_access_token_secret": "ats",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("NOTIFIER_", "TWILIO_")):
            monkeypatch.delenv(name)


def providers(**values: object) -> ProviderSettings:
    return Settings(**values).providers  # type: ignore[arg-type]  # tests pass valid fields


def test_nothing_configured_is_unavailable_with_the_reason() -> None:
    channels = build_channels(providers(), demo=False)
    assert channels.available() == frozenset()
    lines = [status.describe() for status in channels]
    assert lines == [
        "sms: unavailable: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN",
        "whatsapp: unavailable: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN",
        "email: unavailable: set NOTIFIER_SMTP_HOST, NOTIFIER_EMAIL_FROM",
        "x: unavailable: set the OAuth 1.0a quartet (NOTIFIER_X_CONSUMER_KEY ...) "
        "or an OAuth 2.0 user token",
    ]


def test_demo_mode_puts_the_console_in_place_of_unconfigured_channels() -> None:
    channels = build_channels(providers(smtp_host="mail", email_from="a@b.example"), demo=True)
    assert channels.available() == {"sms", "whatsapp", "email", "x"}
    assert isinstance(channels.get("email"), SmtpEmail)
    assert isinstance(channels.get("sms"), ConsoleChannel)
    assert channels.statuses["sms"].state == "console"


def test_everything_configured() -> None:
    channels = build_channels(
        providers(
            **TWILIO,
            **X_QUARTET,
            twilio_from="+15017122661",
            twilio_whatsapp_from="+14155238886",
            smtp_host="mail.example",
            email_from="avisos@acme.example",
        ),
        demo=False,
    )
    assert isinstance(channels.get("sms"), TwilioSms)
    assert isinstance(channels.get("whatsapp"), TwilioWhatsApp)
    assert isinstance(channels.get("email"), SmtpEmail)
    assert isinstance(channels.get("x"), XDirectMessage)
    assert channels.statuses["sms"].describe() == "sms: twilio, from +15017122661"
    assert channels.statuses["email"].sender == (
        "avisos@acme.example via mail.example:587 (starttls)"
    )


@pytest.mark.parametrize(
    ("values", "channel", "reason"),
    [
        pytest.param(TWILIO, "sms", "set NOTIFIER_TWILIO_FROM or NOTIFIER_TWILIO_MESSAGING_"
                     "SERVICE_SID", id="sms-without-sender"),
        pytest.param(TWILIO, "whatsapp", "set NOTIFIER_TWILIO_WHATSAPP_FROM",
                     id="whatsapp-without-sender"),
        pytest.param({"smtp_host": "mail", "email_from": "a@b.c", "smtp_username": "u"}, "email",
                     "NOTIFIER_SMTP_USERNAME is set without NOTIFIER_SMTP_PASSWORD",
                     id="smtp-user-without-password"),
        pytest.param({"x_consumer_key": "ck"}, "x", "incomplete OAuth 1.0a credentials: set "
                     "NOTIFIER_X_CONSUMER_SECRET, NOTIFIER_X_ACCESS_TOKEN, "
                     "NOTIFIER_X_ACCESS_TOKEN_SECRET", id="x-partial-quartet"),
    ],
)  # fmt: skip
def test_incomplete_settings_name_what_is_missing(
    values: dict[str, object], channel: str, reason: str
) -> None:
    status = build_channels(providers(**values), demo=False).statuses[channel]  # type: ignore[index]
    assert (status.state, status.reason) == ("unavailable", reason)


def test_an_app_only_bearer_token_is_refused_at_start_up() -> None:
    status = build_channels(providers(x_bearer_token="AAAA"), demo=False).statuses["x"]
    assert status.state == "unavailable"
    assert "app-only token, which cannot send direct messages" in status.reason


def test_oauth2_user_token_with_refresh_is_configured() -> None:
    channels = build_channels(
        providers(x_bearer_token="user", x_client_id="cid", x_refresh_token="r"), demo=False
    )
    assert channels.statuses["x"].provider == "x (OAuth 2.0 user)"


def test_twilio_accepts_the_sdk_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC9")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "secret")
    monkeypatch.setenv("NOTIFIER_TWILIO_FROM", "+15017122661")
    assert build_channels(Settings().providers, demo=False).statuses["sms"].state == "configured"


def test_no_secret_in_any_status_line() -> None:
    channels = build_channels(
        providers(**TWILIO, **X_QUARTET, twilio_from="+1", smtp_host="m", email_from="a@b.c",
                 smtp_username="u", smtp_password="smtp-pass"),
        demo=False,
    )  # fmt: skip
    text = " ".join(status.describe() for status in channels)
    for secret in ("token", "cs", "ats", "smtp-pass"):
        assert f" {secret}" not in text and f"{secret} " not in text
