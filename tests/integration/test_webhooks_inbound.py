"""Twilio's inbound webhook: signatures, STOP/START/HELP in es/pt/en, replies forwarded to ops."""

from __future__ import annotations

import hashlib
import hmac
from base64 import b64encode
from datetime import timedelta

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from notifier.domain.ingest import InteractionData
from notifier.domain.models import ChannelName, CustomerId, Direction
from notifier.store.convert import interactions
from tests.webhooks_fixtures import HELP, OPS, PUBLIC_URL, Hooks, hooks, signature

__all__ = ["hooks"]  # the fixture, imported for pytest

INBOUND = "/webhooks/twilio/inbound"
PHONE = "+5491155550101"


def sms(body: str, sender: str = PHONE) -> dict[str, str]:
    return {
        "MessageSid": "SM" + hashlib.sha1(body.encode()).hexdigest()[:32],
        "AccountSid": "AC" + "0" * 31 + "1",
        "From": sender,
        "To": "+15017122661",
        "Body": body,
        "NumMedia": "0",
    }


def whatsapp(body: str, sender: str = PHONE) -> dict[str, str]:
    return {**sms(body, f"whatsapp:{sender}"), "To": "whatsapp:+14155238886", "WaId": sender[1:]}


# -- signatures ---------------------------------------------------------------------------


async def test_a_genuine_signature_is_accepted(hooks: Hooks) -> None:
    await hooks.customer("c-1")
    answer = await hooks.twilio(INBOUND, sms("STOP"))
    assert answer.status_code == 200
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"sms"}


TAMPERED = [
    pytest.param(lambda p: {**p, "Body": "STOP"}, None, id="body-changed-after-signing"),
    pytest.param(lambda p: {**p, "Extra": "1"}, None, id="parameter-added"),
    pytest.param(lambda p: p, "", id="signature-missing"),
    pytest.param(lambda p: p, "bm90IGEgc2lnbmF0dXJl", id="signature-garbage"),
    pytest.param(
        lambda p: p,
        RequestValidator("another-token").compute_signature(PUBLIC_URL + INBOUND, sms("hola")),
        id="other-account-token",
    ),
    pytest.param(
        lambda p: p,
        RequestValidator("test-auth-token").compute_signature(
            "https://evil.example" + INBOUND, sms("hola")
        ),
        id="signed-for-another-url",
    ),
]


@pytest.mark.parametrize(("tamper", "sig"), TAMPERED)
async def test_a_bad_or_missing_signature_is_refused_and_changes_nothing(
    hooks: Hooks, tamper: object, sig: str | None
) -> None:
    await hooks.customer("c-1")
    signed = sms("hola")
    posted = tamper(signed)  # type: ignore[operator]  # the table's lambdas
    headers = {} if sig == "" else {"X-Twilio-Signature": sig or signature(INBOUND, signed)}
    answer = await hooks.client.post(INBOUND, data=posted, headers=headers)
    assert answer.status_code == 403
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None
    assert customer.opted_out == frozenset() and customer.last_used_channel is None
    assert hooks.smtp.received == []


async def test_without_a_public_url_nothing_can_be_verified(hooks: Hooks) -> None:
    hooks.settings.public_url = None
    answer = await hooks.twilio(INBOUND, sms("STOP"))
    assert answer.status_code == 403
    assert "NOTIFIER_PUBLIC_URL" in answer.json()["detail"]


async def test_a_webhook_rule_signs_with_the_shared_key_and_its_algorithm(hooks: Hooks) -> None:
    from pydantic import SecretStr

    hooks.settings.twilio_webhook_shared_key = SecretStr("shared-key-secret")
    await hooks.customer("c-1")
    params = sms("STOP")
    url = PUBLIC_URL + INBOUND
    settings_header = {"X-Twilio-Webhooks-Signature-Settings": "key=SK1,algorithm=HMAC_SHA256"}
    good = RequestValidator("shared-key-secret").compute_signature(url, params, "HMAC_SHA256")
    # HMAC-SHA256 over the same string, but with the auth token: not the key Twilio used.
    text = url + "".join(k + params[k] for k in sorted(params))
    wrong = b64encode(hmac.new(b"test-auth-token", text.encode(), hashlib.sha256).digest())

    refused = await hooks.client.post(
        INBOUND, data=params, headers={**settings_header, "X-Twilio-Signature": wrong.decode()}
    )
    assert refused.status_code == 403
    accepted = await hooks.client.post(
        INBOUND, data=params, headers={**settings_header, "X-Twilio-Signature": good}
    )
    assert accepted.status_code == 200


async def test_a_blank_shared_key_in_the_environment_is_no_key(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An env file's `NOTIFIER_TWILIO_WEBHOOK_SHARED_KEY=` (deploy/notifier.env.example
    # ships it so) must not make the empty string a key anyone can sign with.
    from notifier.config import Settings

    monkeypatch.setenv("NOTIFIER_TWILIO_WEBHOOK_SHARED_KEY", "")
    hooks.settings.twilio_webhook_shared_key = Settings().twilio_webhook_shared_key
    await hooks.customer("c-1")
    params = sms("STOP")
    forged = RequestValidator("").compute_signature(PUBLIC_URL + INBOUND, params, "HMAC_SHA256")
    headers = {"X-Twilio-Webhooks-Signature-Settings": "key=SK1,algorithm=HMAC_SHA256",
               "X-Twilio-Signature": forged}  # fmt: skip
    answer = await hooks.client.post(INBOUND, data=params, headers=headers)
    assert answer.status_code == 403
    assert "NOTIFIER_TWILIO_WEBHOOK_SHARED_KEY" in answer.json()["detail"]


# -- keywords -----------------------------------------------------------------------------

STOPS = [
    pytest.param("STOP", id="en-stop"),
    pytest.param("stop", id="en-stop-lowercase"),
    pytest.param("STOPALL", id="en-stopall"),
    pytest.param("Unsubscribe", id="en-unsubscribe"),
    pytest.param("cancel", id="en-cancel"),
    pytest.param("END", id="en-end"),
    pytest.param("quit", id="en-quit"),
    pytest.param("Baja", id="es-baja"),
    pytest.param("BAJA.", id="es-baja-with-dot"),
    pytest.param("parar", id="es-pt-parar"),
    pytest.param("Sair", id="pt-sair"),
]


@pytest.mark.parametrize("word", STOPS)
async def test_stop_words_opt_out_of_that_channel_only(hooks: Hooks, word: str) -> None:
    await hooks.customer("c-1")
    answer = await hooks.twilio(INBOUND, sms(word))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Message>" not in answer.text
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"sms"}
    assert hooks.smtp.received == []


@pytest.mark.parametrize("word", ["START", "start", "Alta"])
async def test_start_words_opt_back_in(hooks: Hooks, word: str) -> None:
    await hooks.customer("c-1")
    await hooks.twilio(INBOUND, whatsapp("PARAR"))
    await hooks.twilio(INBOUND, sms("BAJA"))
    hooks.clock.advance(timedelta(minutes=5))
    await hooks.twilio(INBOUND, whatsapp(word))
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"sms"}  # only WhatsApp came back


@pytest.mark.parametrize("word", ["HELP", "ayuda", "Ajuda?"], ids=["en", "es", "pt"])
@pytest.mark.parametrize("make", [sms, whatsapp], ids=["sms", "whatsapp"])
async def test_help_answers_with_the_configured_text(hooks: Hooks, word: str, make: object) -> None:
    await hooks.customer("c-1")
    answer = await hooks.twilio(INBOUND, make(word))  # type: ignore[operator]
    assert answer.status_code == 200
    assert answer.text.endswith(f"<Response><Message>{HELP}</Message></Response>")
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == frozenset()
    assert hooks.smtp.received == []


async def test_the_help_text_is_escaped_as_xml(hooks: Hooks) -> None:
    hooks.settings.help_text = "Tom & Jerry <help>"
    answer = await hooks.twilio(INBOUND, sms("HELP"))
    assert "<Message>Tom &amp; Jerry &lt;help&gt;</Message>" in answer.text


async def test_help_answers_in_the_customers_locale(hooks: Hooks) -> None:
    # NOTIFIER_HELP_TEXT as JSON: the sender's customer reads their locale's text.
    hooks.settings.help_text = {"es": "Ayuda", "en": "Help", "pt-BR": "Ajuda"}
    await hooks.customer("c-1", locale="pt-BR")
    answer = await hooks.twilio(INBOUND, sms("AJUDA"))
    assert "<Message>Ajuda</Message>" in answer.text


# -- interactions and replies to ops ------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "channel"), [(sms, "sms"), (whatsapp, "whatsapp")], ids=["sms", "whatsapp"]
)
@pytest.mark.parametrize("word", ["STOP", "HELP", "gracias"])
async def test_every_inbound_message_makes_its_channel_last_used(
    hooks: Hooks, make: object, channel: ChannelName, word: str
) -> None:
    await hooks.customer("c-1")
    earlier = hooks.clock.now() - timedelta(days=1)
    await hooks.ledger.add_interactions(
        [InteractionData(CustomerId("c-1"), "email", Direction.INBOUND, earlier)]
    )
    await hooks.twilio(INBOUND, make(word))  # type: ignore[operator]
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.last_used_channel == channel
    entries = await hooks.store.timeline("c-1")
    assert entries[0].type == "interaction" and entries[0].summary == f"inbound {channel}"


REPLIES = [
    pytest.param("¿Dónde está mi pedido? Hace 3 días que espero", id="es"),
    pytest.param("Cadê meu pedido? Já faz uma semana", id="pt"),
    pytest.param("Where is my parcel?\nI need it today", id="en"),
]


@pytest.mark.parametrize("text", REPLIES)
async def test_any_other_text_goes_to_ops_with_the_timeline(hooks: Hooks, text: str) -> None:
    await hooks.customer("c-1")
    hooks.clock.advance(timedelta(minutes=1))
    answer = await hooks.twilio(INBOUND, whatsapp(text))
    assert answer.status_code == 200
    assert "<Message>" not in answer.text  # the customer gets a person's answer, not a bot's
    await hooks.dispatched()  # the reply goes to ops through the outbox

    assert [m.rcpt_tos for m in hooks.smtp.received] == [[OPS]]
    email = hooks.smtp.received[0].parsed()
    assert email["Subject"] == "Reply on whatsapp from Ana Pérez"
    content = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for line in text.splitlines():
        assert f"> {line}" in content
    assert "Customer c-1 (Ana Pérez), timeline, newest first:" in content
    assert "interaction  inbound whatsapp" in content
    assert PHONE in content  # ops need the number to answer
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == frozenset()


async def test_a_replayed_reply_reaches_ops_once_even_without_its_receipt(hooks: Hooks) -> None:
    await hooks.customer("c-1")
    posted = sms("¿me llaman?")
    await hooks.twilio(INBOUND, posted)
    # The receipt is dropped when handling fails after the forward: the dedupe key holds.
    await hooks.store.drop_receipt(f"twilio-inbound:{posted['MessageSid']}")
    await hooks.twilio(INBOUND, posted)
    await hooks.dispatched()
    assert [m.rcpt_tos for m in hooks.smtp.received] == [[OPS]]
    (row,) = [r for r in await hooks.store.list_notifications() if r.notification.audience == "ops"]
    assert row.notification.dedupe_key == f"ops:inbound:{posted['MessageSid']}"
    assert row.notification.customer_id is None and hooks.wakes == [1]


async def test_a_text_from_an_unknown_number_still_reaches_ops(hooks: Hooks) -> None:
    answer = await hooks.twilio(INBOUND, sms("hola, soy nuevo", sender="+5491155559999"))
    assert answer.status_code == 200
    await hooks.dispatched()
    content = hooks.smtp.received[0].parsed().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "No customer has this number" in content and "+5491155559999" in content


async def test_whatsapp_from_a_customer_without_a_whatsapp_number_matches_their_phone(
    hooks: Hooks,
) -> None:
    await hooks.customer("c-1")
    await hooks.customer("c-2", phone="+5491155550202", whatsapp="+5491155550101")
    await hooks.twilio(INBOUND, whatsapp("SAIR"))
    one, two = await hooks.store.get_customer("c-1"), await hooks.store.get_customer("c-2")
    assert one is not None and two is not None
    assert one.opted_out == {"whatsapp"} and two.opted_out == {"whatsapp"}
    await hooks.twilio(INBOUND, sms("quit", sender="+5491155550202"))
    two = await hooks.store.get_customer("c-2")
    assert two is not None and two.opted_out == {"sms", "whatsapp"}
    one = await hooks.store.get_customer("c-1")
    assert one is not None and one.opted_out == {"whatsapp"}


async def test_without_ops_email_the_interaction_is_still_recorded(hooks: Hooks) -> None:
    hooks.settings.ops_email = None
    hooks.reconfigure()
    await hooks.customer("c-1")
    answer = await hooks.twilio(INBOUND, sms("¿me llaman?"))
    assert answer.status_code == 200
    await hooks.dispatched()
    assert hooks.smtp.received == []
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.last_used_channel == "sms"


async def test_when_ops_email_fails_the_answer_is_still_200(hooks: Hooks) -> None:
    hooks.settings.ops_email = "nobody@example.com"  # the SMTP fake refuses it with 550
    hooks.reconfigure()
    await hooks.customer("c-1")
    answer = await hooks.twilio(INBOUND, sms("¿me llaman?"))
    assert answer.status_code == 200
    await hooks.dispatched()
    assert hooks.smtp.received == []
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.last_used_channel == "sms"


async def test_logs_carry_neither_the_text_nor_the_full_number(hooks: Hooks) -> None:
    await hooks.customer("c-1")
    text = "mi clave es 4321 y vivo en Corrientes 1234"
    with capture_logs() as logs:
        await hooks.twilio(INBOUND, sms(text))
        await hooks.twilio(INBOUND, whatsapp("STOP"))
    assert {e["event"] for e in logs} >= {"webhooks.inbound", "webhooks.forwarded"}
    flat = repr(logs)
    assert text not in flat and "Corrientes" not in flat
    assert PHONE not in flat and PHONE[1:] not in flat
    assert "0101" in flat  # the masked number still tells senders apart


async def test_a_nul_in_a_signed_text_is_kept_as_a_replacement_character(hooks: Hooks) -> None:
    # PostgreSQL text cannot hold U+0000; refusing the form would only make Twilio resend it.
    await hooks.customer("c-1")
    answer = await hooks.twilio(INBOUND, sms("STOP\x00now"))
    assert answer.status_code == 200, answer.text
    async with hooks.store.reading() as conn:
        bodies = list(await conn.scalars(select(interactions.c.body)))
    assert bodies == ["STOP\ufffdnow"]
