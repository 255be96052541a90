"""A notification that cannot be rendered or written fails alone; the batch goes out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from notifier.channels.base import Channel, OutboundMessage, Receipt
from notifier.domain.models import NotificationStatus
from notifier.engine.delivery.recovery import recover
from notifier.store.convert import customers
from tests.integration.poison import (
    insert_customer,
    insert_promise,
    notification_rows,
    sending,
)
from tests.integration.rig import Rig

# Late by a business day on the Argentine calendar (Monday 23 November 2026 is a public
# holiday), at 19:00 in Buenos Aires: before quiet hours, within the 24 h backfill.
REFUND_DUE = timedelta(hours=-26)
# More than Babel's format_currency can format: the API refuses it now, older rows have it.
HUGE = {"order_id": "R-1", "amount": 1e27, "currency": "ARS"}


async def _batch_with_a_poisoned_refund(rig: Rig) -> None:
    """ana and carl have late deliveries; bea's refund (hand-made) is of 1e27 pesos."""
    rig.clock.advance(timedelta(hours=7))
    for cid, phone in (("ana", "+5491155550101"), ("carl", "+5491155550103")):
        await rig.customer(cid, phone=phone)
        await rig.promise(cid, f"order-{cid}", timedelta(hours=-2))
    now = rig.clock.now()
    await insert_customer(rig.store, "bea", now, locale="es")
    await insert_promise(
        rig.store, "bea", "refund-bea", now + REFUND_DUE, now, kind="refund", attributes=HUGE
    )


async def test_a_refund_babel_cannot_format_fails_alone_with_render_error(rig: Rig) -> None:
    await _batch_with_a_poisoned_refund(rig)
    await rig.tick()

    assert await sending(rig.store) == []
    assert sorted(f["To"] for f in rig.twilio.forms()) == ["+5491155550101", "+5491155550103"]
    (bea,) = await notification_rows(rig.store, "bea")
    assert bea["status"] == NotificationStatus.FAILED.value
    assert bea["error_code"] == "render_error"
    error = bea["error"]
    assert error.startswith("render_error: ") and "\n" not in error
    # The template of the customer's channel (SMS, the one bea last used),
    # then the line that raised (in the shared amount macro).
    assert "templates/refund_late/sms.es.j2" in error and "_shared/es.j2:" in error, error
    assert "InvalidOperation" in error, error
    assert rig.smtp.received == []  # not tried on the fallback channel either
    found = await rig.store.notification(bea["id"])
    assert found is not None
    history = found.history
    assert history[-1].type == "failed" and history[-1].reason == error

    registry = rig.dispatcher.metrics.registry
    labels = {"message": "refund_late"}
    assert registry.get_sample_value("notifier_render_errors_total", labels) == 1.0
    await rig.tick()  # nothing comes back: failed is final
    assert len(rig.twilio.forms()) == 2


async def test_rows_a_dead_process_left_sending_are_recovered_and_fail_alone(rig: Rig) -> None:
    await _batch_with_a_poisoned_refund(rig)
    await rig.scan()
    now = rig.clock.now()
    # An older daemon claimed the batch, died on the refund, and left it all ``sending``.
    claimed = await rig.store.claim(now, "dead-daemon", rig.settings.lease, 50)
    assert len(claimed) == 3
    rig.clock.advance(rig.settings.lease + timedelta(seconds=1))

    report = await recover(rig.store, rig.dispatcher.channels, rig.settings.dispatch,
                           rig.dispatcher.owner, rig.clock.now())  # fmt: skip
    assert report.resent == 3
    await rig.dispatcher.dispatch_until_idle()

    assert await sending(rig.store) == []
    statuses = {r["customer_id"]: r["status"] for r in await notification_rows(rig.store)}
    assert statuses == {"ana": "sent", "carl": "sent", "bea": "failed"}


async def test_a_row_the_database_refuses_to_store_fails_alone_with_write_error(
    rig: Rig,
) -> None:
    if rig.store.dialect.name == "sqlite":
        pytest.skip("SQLite stores a NUL in text; PostgreSQL refuses it")
    await rig.customer("ana")
    await rig.promise("ana", "order-ana", timedelta(hours=-2))
    now = rig.clock.now()
    await insert_customer(rig.store, "bea", now)
    # PostgreSQL's json type keeps a \u0000 escape; the message it ends up in is text.
    await insert_promise(rig.store, "bea", "order-bea", now - timedelta(hours=2), now,
                         attributes={"order_id": "A\u0000B"})  # fmt: skip
    await rig.tick()

    assert await sending(rig.store) == []
    assert [f["To"] for f in rig.twilio.forms()] == ["+5491155550101"]
    (bea,) = await notification_rows(rig.store, "bea")
    assert (bea["status"], bea["error_code"]) == ("failed", "write_error")
    assert bea["body"] is None and "\n" not in bea["error"]


async def test_a_poisoned_promise_folded_into_one_message_does_not_sink_the_other(
    rig: Rig,
) -> None:
    """ana's late delivery and her poisoned refund would go as one several_late email."""
    rig.clock.advance(timedelta(hours=7))
    await rig.customer("ana", last_used="email")  # the email names each promise's amount
    await rig.promise("ana", "order-ana", timedelta(hours=-2))
    now = rig.clock.now()
    await insert_promise(
        rig.store, "ana", "refund-ana", now + REFUND_DUE, now, kind="refund", attributes=HUGE
    )
    await rig.tick()

    assert await sending(rig.store) == []
    rows = {r["message"]: r for r in await notification_rows(rig.store, "ana")}
    assert set(rows) == {"delivery_late", "refund_late"}, rows.keys()
    assert rows["delivery_late"]["status"] == "sent"
    assert (rows["refund_late"]["status"], rows["refund_late"]["error_code"]) == (
        "failed", "render_error"
    )  # fmt: skip
    assert "folded_into" not in rows["delivery_late"]["payload"]
    assert "folded_into" not in rows["refund_late"]["payload"]
    found = await rig.store.notification(rows["refund_late"]["id"])
    assert found is not None and "unfolded" in [e.type for e in found.history]
    (email,) = rig.smtp.received
    assert "order-ana" in email.parsed()["Subject"] + str(email.parsed().get_body())


class _BuggyFor:
    """The real SMS channel, with a bug that fires for one recipient (not a SendError)."""

    def __init__(self, real: Channel, address: str) -> None:
        self.real, self.address, self.name = real, address, real.name

    async def send(self, message: OutboundMessage) -> Receipt:
        if message.to == self.address:
            raise KeyError("sid")  # say, a provider answer the adapter did not expect
        return await self.real.send(message)

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_an_adapter_raising_something_unexpected_fails_that_row_alone(rig: Rig) -> None:
    await rig.customer("ana")
    await rig.promise("ana", "order-ana", timedelta(hours=-2))
    await rig.customer("bea", phone="+5491155550199")
    await rig.promise("bea", "order-bea", timedelta(hours=-2))
    channels = rig.dispatcher.channels
    real = channels.active["sms"]
    channels.active["sms"] = _BuggyFor(real, "+5491155550199")  # type: ignore[assignment]
    await rig.tick()

    assert await sending(rig.store) == []
    assert [f["To"] for f in rig.twilio.forms()] == ["+5491155550101"]
    (bea,) = await notification_rows(rig.store, "bea")
    assert (bea["status"], bea["error_code"]) == ("failed", "send_error")
    assert bea["error"] == "send_error: KeyError: 'sid'"
    assert rig.smtp.received == []  # not retried elsewhere: the provider may have it
    labels = {"reason": "send_error"}
    registry = rig.dispatcher.metrics.registry
    assert registry.get_sample_value("notifier_dispatch_errors_total", labels) == 1.0


async def test_a_customer_row_spoilt_after_scheduling_fails_its_notification_alone(
    rig: Rig,
) -> None:
    for cid, phone in (("ana", "+5491155550101"), ("bea", "+5491155550102")):
        await rig.customer(cid, phone=phone)
        await rig.promise(cid, f"order-{cid}", timedelta(hours=-2))
    await rig.scan()
    # By hand, between the scan and the send: a value no version of notifier writes.
    async with rig.store.transaction() as conn:
        await conn.execute(
            update(customers).where(customers.c.id == "bea").values(undeliverable=["sms"])
        )
    await rig.dispatcher.dispatch_until_idle()

    assert await sending(rig.store) == []
    assert [f["To"] for f in rig.twilio.forms()] == ["+5491155550101"]
    (bea,) = await notification_rows(rig.store, "bea")
    assert (bea["status"], bea["error_code"]) == ("failed", "unreadable_row")
    assert bea["error"].startswith("unreadable_row: the row cannot be read: AttributeError")
