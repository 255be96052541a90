"""``notifier channels`` and ``notifier channels send`` against the local provider servers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.channels.unsubscribe import verify_link
from notifier.cli import main
from tests.fakes.smtp_server import SmtpFake
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioFake
from tests.fakes.x_server import XFake

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
SECRET = "unsubscribe-secret-for-tests-32-chars"


@pytest.fixture
def twilio_url() -> Iterator[tuple[TwilioFake, str]]:
    fake = TwilioFake()
    with fake.in_thread() as url:
        yield fake, url


@pytest.fixture
def x_url() -> Iterator[tuple[XFake, str]]:
    fake = XFake()
    with fake.in_thread() as url:
        yield fake, url


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("NOTIFIER_", "TWILIO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NOTIFIER_TEMPLATES_DIR", str(TEMPLATES))
    monkeypatch.setenv("NOTIFIER_PUBLIC_URL", "https://notifier.acme.example")
    monkeypatch.setenv("NOTIFIER_SECRET_KEY", SECRET)


def use_twilio(monkeypatch: pytest.MonkeyPatch, url: str, token: str = AUTH_TOKEN) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", token)
    monkeypatch.setenv("NOTIFIER_TWILIO_BASE_URL", url)
    monkeypatch.setenv("NOTIFIER_TWILIO_FROM", "+15017122661")
    monkeypatch.setenv("NOTIFIER_TWILIO_WHATSAPP_FROM", "+14155238886")


def test_list_says_what_is_configured_and_what_is_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("NOTIFIER_TWILIO_FROM", "+15017122661")
    assert main(["channels"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "sms: twilio, from +15017122661",
        "whatsapp: unavailable: set NOTIFIER_TWILIO_WHATSAPP_FROM",
        "email: unavailable: set NOTIFIER_SMTP_HOST, NOTIFIER_EMAIL_FROM",
        "x: unavailable: set the OAuth 1.0a quartet (NOTIFIER_X_CONSUMER_KEY ...) "
        "or an OAuth 2.0 user token",
    ]
    assert AUTH_TOKEN not in "".join(out)


def test_list_as_json_in_demo_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOTIFIER_DEMO", "1")
    assert main(["channels", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["channel"], c["state"]) for c in listed] == [
        ("sms", "console"),
        ("whatsapp", "console"),
        ("email", "console"),
        ("x", "console"),
    ]


def test_send_sms_prints_the_provider_id(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    twilio_url: tuple[TwilioFake, str],
) -> None:
    fake, url = twilio_url
    use_twilio(monkeypatch, url)
    assert main(["channels", "send", "sms", "+5491155551234", "--locale", "es-AR"]) == 0
    [message] = fake.messages
    assert capsys.readouterr().out == f"sms: sent, provider id {message['sid']} (queued)\n"
    form = message["_form"]
    assert form["To"] == "+5491155551234"
    # The sample order, rendered by the shipped template: its tracking link names it.
    assert "https://acme.example/p/7Hq2Xk9" in form["Body"]
    assert form["StatusCallback"] == "https://notifier.acme.example/webhooks/twilio/status"


def test_send_failure_prints_the_classified_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    twilio_url: tuple[TwilioFake, str],
) -> None:
    _, url = twilio_url
    use_twilio(monkeypatch, url)
    assert main(["channels", "send", "sms", "+15005550001", "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer == {
        "channel": "sms",
        "ok": False,
        "kind": "permanent",
        "reason": "invalid_address",
        "code": "21211",
        "message": "The 'To' number +15005550001 is not a valid phone number.",
    }


def test_bad_credentials_say_channel_down(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    twilio_url: tuple[TwilioFake, str],
) -> None:
    _, url = twilio_url
    use_twilio(monkeypatch, url, token="not-the-token")
    assert main(["channels", "send", "whatsapp", "+5491155551234"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("whatsapp: channel_down (auth_failed 20003): Authentication Error")
    assert "not-the-token" not in err


def test_whatsapp_uses_the_mapped_template(
    monkeypatch: pytest.MonkeyPatch, twilio_url: tuple[TwilioFake, str]
) -> None:
    fake, url = twilio_url
    use_twilio(monkeypatch, url)
    monkeypatch.setenv(
        "NOTIFIER_WHATSAPP_CONTENT_SIDS", json.dumps({"delivery_late": "HX" + "c" * 32})
    )
    args = [
        "channels",
        "send",
        "whatsapp",
        "+5491155551234",
        "--var",
        "1=Lucía",
        "--var",
        "2=A-10432",
    ]
    assert main(args) == 0
    form = fake.messages[0]["_form"]
    assert form["To"] == "whatsapp:+5491155551234"
    assert form["ContentSid"] == "HX" + "c" * 32
    assert json.loads(form["ContentVariables"]) == {"1": "Lucía", "2": "A-10432"}


def test_whatsapp_without_template_sends_free_form(
    monkeypatch: pytest.MonkeyPatch, twilio_url: tuple[TwilioFake, str]
) -> None:
    fake, url = twilio_url
    use_twilio(monkeypatch, url)
    assert main(["channels", "send", "whatsapp", "+5491155551234", "--locale", "pt-BR"]) == 0
    form = fake.messages[0]["_form"]
    assert "ContentSid" not in form and "ML-20261120-000104329-AR" in form["Body"]


def test_send_email_is_built_like_a_real_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = SmtpFake()
    fake.start()
    try:
        monkeypatch.setenv("NOTIFIER_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("NOTIFIER_SMTP_PORT", str(fake.port))
        monkeypatch.setenv("NOTIFIER_SMTP_TLS", "none")
        monkeypatch.setenv("NOTIFIER_EMAIL_FROM", "Acme <avisos@acme.example>")
        assert main(["channels", "send", "email", "ops@acme.example", "--json"]) == 0
    finally:
        fake.stop()
    answer = json.loads(capsys.readouterr().out)
    parsed = fake.received[0].parsed()
    assert answer["provider_id"] == parsed["Message-ID"]
    assert parsed["Message-ID"].endswith("@acme.example>")
    assert parsed["Subject"] == (
        "Perdón: tu pedido de zapatillas Topper (ML-20261120-000104329-AR) viene con demora"
    )
    link = parsed["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://notifier.acme.example/unsubscribe/")
    token = link.rpartition("/")[2]
    found = verify_link(SECRET.encode(), token)
    assert found is not None and (found.customer_id, found.channel) == ("ops@acme.example", "email")
    assert "ops@acme.example" not in link  # opaque: the address is not readable in the link
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_body(("html",)) is not None


def test_send_x_dm(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    x_url: tuple[XFake, str],
) -> None:
    fake, url = x_url
    monkeypatch.setenv("NOTIFIER_X_BASE_URL", url)
    monkeypatch.setenv("NOTIFIER_X_CONSUMER_KEY", fake.consumer_key)
    monkeypatch.setenv("NOTIFIER_X_CONSUMER_SECRET", fake.consumer_secret)
    monkeypatch.setenv("NOTIFIER_X_ACCESS_TOKEN", fake.access_token)
    monkeypatch.setenv("NOTIFIER_X_ACCESS_TOKEN_SECRET", fake.access_token_secret)
    assert main(["channels", "send", "x", "403403"]) == 1
    assert "x: permanent (cannot_dm 403)" in capsys.readouterr().err
    assert main(["channels", "send", "x", "987654321"]) == 0
    assert fake.sent[0]["participant_id"] == "987654321"


def test_unavailable_channel_fails_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["channels", "send", "sms", "+5491155551234"]) == 1
    assert "sms: unavailable: set TWILIO_ACCOUNT_SID" in capsys.readouterr().err


def test_unknown_channel_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["channels", "send", "fax", "+5491155551234"]) == 2
    assert "unknown channel 'fax'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("unset", "says"),
    [
        pytest.param("NOTIFIER_SECRET_KEY", "NOTIFIER_SECRET_KEY is not set", id="no-key"),
        pytest.param("NOTIFIER_PUBLIC_URL", "NOTIFIER_PUBLIC_URL is not set", id="no-url"),
    ],
)
def test_send_email_refuses_without_what_the_unsubscribe_link_needs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], unset: str, says: str
) -> None:
    fake = SmtpFake()
    fake.start()
    try:
        monkeypatch.setenv("NOTIFIER_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("NOTIFIER_SMTP_PORT", str(fake.port))
        monkeypatch.setenv("NOTIFIER_SMTP_TLS", "none")
        monkeypatch.setenv("NOTIFIER_EMAIL_FROM", "Acme <avisos@acme.example>")
        monkeypatch.delenv(unset)
        assert main(["channels", "send", "email", "ops@acme.example"]) == 1
    finally:
        fake.stop()
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("notifier: error: ") and says in line
    assert fake.received == []
