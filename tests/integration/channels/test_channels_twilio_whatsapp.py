"""WhatsApp through the real twilio SDK: session window, Content Templates, 63016."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from notifier.channels.base import OutboundMessage, PermanentError, Reason
from notifier.channels.twilio_whatsapp import TwilioWhatsApp, is_session_open
from tests.fakes.twilio_server import TwilioFake
from tests.integration.channels.conftest import CheckContract


def wa(
    to: str, *, open_session: bool, locale: str = "es", name: str = "delivery_late"
) -> OutboundMessage:
    return OutboundMessage(
        dedupe_key="rule:1:1:0",
        channel="whatsapp",
        to=to,
        text="Hola Ana, tu pedido se retrasa.",
        message_name=name,
        locale=locale,
        whatsapp_session_open=open_session,
        content_variables={"1": "Ana", "2": "1234"},
    )


async def test_inside_the_session_a_free_form_body_goes(
    whatsapp: TwilioWhatsApp, twilio_fake: TwilioFake, twilio_contract: CheckContract
) -> None:
    receipt = await whatsapp.send(wa("+5491155551234", open_session=True))
    assert receipt.provider_id.startswith("SM")
    [form] = twilio_fake.forms()
    assert form["To"] == "whatsapp:+5491155551234"
    assert form["From"] == "whatsapp:+14155238886"
    assert form["Body"] == "Hola Ana, tu pedido se retrasa."
    assert "ContentSid" not in form
    twilio_contract(twilio_fake.requests[0])


async def test_outside_the_session_the_content_template_goes(
    whatsapp: TwilioWhatsApp, twilio_fake: TwilioFake, twilio_contract: CheckContract
) -> None:
    await whatsapp.send(wa("whatsapp:+5491155551234", open_session=False))
    [form] = twilio_fake.forms()
    assert form["To"] == "whatsapp:+5491155551234"
    assert form["ContentSid"] == "HX" + "a" * 32
    assert json.loads(form["ContentVariables"]) == {"1": "Ana", "2": "1234"}
    assert "Body" not in form
    twilio_contract(twilio_fake.requests[0])


async def test_a_locale_specific_template_wins(
    whatsapp: TwilioWhatsApp, twilio_fake: TwilioFake
) -> None:
    await whatsapp.send(wa("+5511955551234", open_session=False, locale="pt-BR"))
    assert twilio_fake.forms()[0]["ContentSid"] == "HX" + "b" * 32


async def test_no_template_outside_the_session_fails_without_a_request(
    whatsapp: TwilioWhatsApp, twilio_fake: TwilioFake
) -> None:
    with pytest.raises(PermanentError) as caught:
        await whatsapp.send(wa("+5491155551234", open_session=False, name="refund_late"))
    assert (caught.value.reason, caught.value.code) == (Reason.NO_TEMPLATE, "63016")
    assert caught.value.address_failed is False
    assert twilio_fake.requests == []


async def test_twilio_refusing_free_form_is_permanent(whatsapp: TwilioWhatsApp) -> None:
    with pytest.raises(PermanentError) as caught:
        await whatsapp.send(wa("+15005550016", open_session=True))
    assert (caught.value.reason, caught.value.code) == (Reason.NO_TEMPLATE, "63016")


async def test_find_sent_uses_the_whatsapp_address(
    whatsapp: TwilioWhatsApp, twilio_fake: TwilioFake
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    await whatsapp.send(wa("+5491155551234", open_session=True))
    found = await whatsapp.find_sent("+5491155551234", since, "Hola Ana, tu pedido se retrasa.")
    assert found is not None and found.provider_id == twilio_fake.messages[0]["sid"]


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last_inbound", "expected"),
    [
        (None, False),
        (NOW - timedelta(hours=23, minutes=59), True),
        (NOW - timedelta(hours=24), False),
    ],
    ids=["never-wrote", "wrote-23h59-ago", "wrote-24h-ago"],
)
def test_session_window(last_inbound: datetime | None, expected: bool) -> None:
    assert is_session_open(last_inbound, NOW) is expected
