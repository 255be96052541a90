"""Bad credentials take the channel down for everyone, tell ops, and never blame the customer."""

from __future__ import annotations

from datetime import timedelta

from notifier.domain.models import NotificationStatus
from tests.integration.rig import Rig


async def test_bad_twilio_credentials_pause_sms_alert_ops_and_fall_back(rig: Rig) -> None:
    rig.twilio.auth_token = "rotated-by-someone"  # our stored token no longer works: 401, 20003
    await rig.customer("c-1", last_used="sms")
    await rig.promise("c-1", "order-1", timedelta(hours=-2))

    await rig.tick()

    recipients = sorted(r.rcpt_tos[0] for r in rig.smtp.received)
    assert recipients == ["c-1@example.com", "ops@acme.example"]
    alert = next(r.parsed() for r in rig.smtp.received if r.rcpt_tos == ["ops@acme.example"])
    assert alert["Subject"] == "notifier: the sms channel is down"
    assert "paused for everyone" in alert.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    pauses = await rig.store.pauses(rig.clock.now())
    assert [(p.kind, p.target) for p in pauses] == [("down", "sms")]
    customer = await rig.store.get_customer("c-1")
    assert customer is not None and customer.undeliverable == {}  # not the recipient's fault

    (listed,) = await rig.store.list_notifications(customer_id="c-1")
    found = await rig.store.notification(listed.notification.id)
    assert found is not None
    record, history = found.record, found.history
    notification = record.notification
    assert notification.status is NotificationStatus.SENT and notification.channel == "email"
    assert [e.type for e in history if e.type != "scheduled"][:3] == [
        "attempt", "channel_down", "attempt",
    ]  # fmt: skip
