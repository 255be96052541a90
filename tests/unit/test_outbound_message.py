"""One message builder: the customer's, ops' and a test send's messages, and notice keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from notifier.config import Settings
from notifier.domain.models import ChannelName, Customer, CustomerId
from notifier.domain.notices import incident_update_key
from notifier.domain.ops_notices import channel_down_notice, inbound_reply_notice
from notifier.domain.outbox import outbox_payload
from notifier.engine.delivery.compose import TO_OPS, Recipient, customer_recipient, outbound_message
from notifier.templates.render import Rendered

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
SETTINGS = Settings(public_url="https://n.acme.example/", secret_key=SecretStr("k" * 32))
ANA = Customer(
    CustomerId("c-1"), "es", "America/Argentina/Buenos_Aires", name="Ana Pérez",
    last_whatsapp_inbound_at=NOW - timedelta(hours=2),
)  # fmt: skip


def _rendered(channel: ChannelName) -> Rendered:
    subject = "Tu pedido" if channel == "email" else None
    html = "<p>Hola</p>" if channel == "email" else None
    return Rendered("delivery_late", channel, "es", str(Path("t")), "Hola Ana", subject, html)


CASES = [
    pytest.param("email", ANA, True, "Ana Pérez", None, id="customer-email"),
    pytest.param(
        "sms",
        ANA,
        False,
        "Ana Pérez",
        "https://n.acme.example/webhooks/twilio/status",
        id="customer-sms",
    ),
    pytest.param("email", None, False, None, None, id="ops-email"),
]


@pytest.mark.parametrize(("channel", "customer", "link", "name", "callback"), CASES)
def test_every_message_is_built_the_same_way(
    channel: ChannelName,
    customer: Customer | None,
    link: bool,
    name: str | None,
    callback: str | None,
) -> None:
    rendered = _rendered(channel)
    recipient = TO_OPS if customer is None else customer_recipient(customer, rendered, NOW)
    message = outbound_message(SETTINGS.links, "k:1", rendered, channel, "to", recipient, NOW)
    assert (message.dedupe_key, message.to, message.text) == ("k:1", "to", "Hola Ana")
    assert (message.unsubscribe_url is not None) == link
    assert message.to_name == name and message.status_callback == callback
    if customer is not None:
        assert message.whatsapp_session_open
        assert message.content_variables == {"1": "Ana", "2": "Hola Ana"}
    else:
        assert not message.whatsapp_session_open and message.content_variables == {}


def test_a_test_send_links_its_address() -> None:
    recipient = Recipient(link_id="qa@acme.example")
    message = outbound_message(
        SETTINGS.links,
        "test:email:1",
        _rendered("email"),
        "email",
        "qa@acme.example",
        recipient,
        NOW,
    )
    assert message.unsubscribe_url is not None and message.to_name is None


def test_notice_keys_and_payloads() -> None:
    assert incident_update_key(7, CustomerId("c-1"), 2) == "incident:7:customer:c-1:update:2"
    down = channel_down_notice("sms", "HTTP 401", NOW, NOW + timedelta(minutes=5))
    assert down.dedupe_key == "ops:channel-down:sms:20261124T150000"
    assert (down.customer_id, down.audience, down.channel) == (None, "ops", "email")
    assert outbox_payload(down) == {
        "audience": "ops", "quiet_hours": None, "reason": "the sms channel is down: HTTP 401",
        "data": {"channel": "sms", "reason": "HTTP 401", "until": "2026-11-24T15:05:00+00:00"},
    }  # fmt: skip
    reply = inbound_reply_notice("whatsapp", "+54911", "hola", [ANA], "SM1", NOW)
    assert reply.dedupe_key == "ops:inbound:SM1"
    assert reply.data["customers"] == [{"id": "c-1", "name": "Ana Pérez"}]
    unnamed = inbound_reply_notice("sms", "+54911", "hola", [], "", NOW)
    assert unnamed.dedupe_key.startswith("ops:inbound:+54911:")
