"""One late delivery from the ledger to the provider: exactly once, on the right channel."""

from __future__ import annotations

from datetime import timedelta

from notifier.domain.models import NotificationStatus, PromiseStatus, Source
from tests.integration.rig import Rig


async def _statuses(rig: Rig, customer_id: str) -> list[tuple[str, str]]:
    entries = await rig.store.timeline(customer_id)
    return [(e.type, e.summary) for e in entries]


async def test_late_delivery_gets_one_apology_on_the_last_used_channel(rig: Rig) -> None:
    await rig.customer("c-1", last_used="sms")
    pid = await rig.promise("c-1", "order-1", timedelta(hours=-2))

    report = await rig.scan()
    assert (report.promises, report.scheduled, report.broken) == (1, 1, 1)
    promise = await rig.store.get_promise(pid)
    assert promise is not None and promise.status is PromiseStatus.BROKEN
    assert await rig.dispatcher.dispatch_until_idle() == 1

    forms = rig.twilio.forms()
    assert [f["To"] for f in forms] == ["+5491155550101"]
    assert "order-1" in forms[0]["Body"] or "perd" in forms[0]["Body"].lower()
    assert rig.smtp.received == []

    # Scanning again at the same instant, or a little later, schedules nothing new.
    await rig.tick()
    rig.clock.advance(timedelta(minutes=30))
    await rig.tick()
    assert len(rig.twilio.forms()) == 1


async def test_permanent_failure_falls_back_and_marks_the_address(rig: Rig) -> None:
    await rig.customer("c-2", last_used="sms", phone="+15005550001")  # Twilio: 21211
    await rig.promise("c-2", "order-2", timedelta(hours=-2))
    await rig.tick()
    assert [m.rcpt_tos for m in rig.smtp.received] == [["c-2@example.com"]]
    email = rig.smtp.received[0].parsed()
    assert email["To"].addresses[0].display_name == "Ana Pérez"
    customer = await rig.store.get_customer("c-2")
    assert customer is not None and customer.undeliverable == {"sms": "+15005550001"}


async def test_a_stop_answered_at_send_time_records_the_opt_out(rig: Rig) -> None:
    await rig.customer("c-4", last_used="sms", phone="+15005550004")  # Twilio: 21610
    await rig.promise("c-4", "order-4", timedelta(hours=-2))
    await rig.tick()
    assert [m.rcpt_tos for m in rig.smtp.received] == [["c-4@example.com"]]
    customer = await rig.store.get_customer("c-4")
    assert customer is not None and customer.opted_out == {"sms"}
    assert customer.undeliverable == {}
    (record,) = await rig.store.list_notifications(customer_id="c-4")
    found = await rig.store.notification(record.notification.id)
    assert found is not None
    (failed,) = [e for e in found.history if e.type == "failed_channel"]
    assert failed.channel == "sms" and failed.detail["code"] == "21610"
    assert str(failed.reason).endswith("; the customer is opted out of sms")

    # Later messages skip SMS without asking Twilio again.
    await rig.promise("c-4", "order-5", timedelta(hours=-1))
    rig.clock.advance(timedelta(hours=2))
    await rig.tick()
    posts = [r for r in rig.twilio.requests if r.method == "POST"]
    assert len(posts) == 1  # the first SMS only
    assert len(rig.smtp.received) == 2


async def test_kept_before_send_is_cancelled(rig: Rig) -> None:
    await rig.customer("c-3")
    pid = await rig.promise("c-3", "order-3", timedelta(hours=-2))
    await rig.scan()
    await rig.ledger.keep(pid, Source.API)
    await rig.dispatcher.dispatch_until_idle()
    assert rig.twilio.forms() == []
    found = await rig.store.queue_stats()
    assert found.counts.get(NotificationStatus.CANCELLED.value) == 1
    labels = {"channel": "-", "rule": "delivery-late", "outcome": "cancelled"}
    registry = rig.dispatcher.metrics.registry
    assert registry.get_sample_value("notifier_notifications_total", labels) == 1.0
