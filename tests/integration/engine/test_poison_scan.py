"""A promise the rules cannot plan: its own plan error and backoff, never a dead tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.domain.ingest import PromiseData
from notifier.domain.models import CustomerId, PromiseStatus, Source
from tests.integration.poison import events_of, insert_customer, insert_promise, promise_row
from tests.integration.rig import Rig

# Accepted by the API before it checked instants: every rule's offset from it overflows.
FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)


async def _poisoned(rig: Rig) -> int:
    """ana has a late delivery; bea's hand-made promise is due in the year 9999."""
    await rig.customer("ana")
    await rig.promise("ana", "order-1", timedelta(hours=-2))
    await insert_customer(rig.store, "bea", rig.clock.now())
    return await insert_promise(rig.store, "bea", "order-far", FAR, rig.clock.now())


async def test_the_poisoned_promise_gets_a_plan_error_and_the_others_their_notice(
    rig: Rig,
) -> None:
    pid = await _poisoned(rig)
    now = rig.clock.now()

    report = await rig.scan()
    assert report.promises == 2 and report.scheduled == 1
    assert report.plan_errors == ("delivery-late",)
    await rig.dispatcher.dispatch_until_idle()
    assert [f["To"] for f in rig.twilio.forms()] == ["+5491155550101"]  # ana, in this tick

    row = await promise_row(rig.store, pid)
    assert row["status"] == PromiseStatus.OPEN.value  # nothing decided about it
    assert row["plan_errors"] == 1 and row["next_check_at"] == now + timedelta(minutes=1)
    assert row["plan_error"]["rule"] == "delivery-late"
    assert row["plan_error"]["since"] == now.isoformat()
    (event,) = await events_of(rig.store, pid, "plan_error")
    reason = event["data"]["reason"]
    assert reason.startswith("rule delivery-late: OverflowError: "), reason
    assert "\n" not in reason and event["source"] == "daemon"
    assert event["data"]["failures"] == 1
    timeline = await rig.store.timeline("bea")
    assert any(e.type == "promise.plan_error" and "could not be planned" in e.summary
               for e in timeline)  # fmt: skip


async def test_plan_errors_back_off_from_a_minute_doubling_to_an_hour(rig: Rig) -> None:
    pid = await _poisoned(rig)
    waits = []
    for _ in range(9):
        now = rig.clock.now()
        await rig.scan()
        row = await promise_row(rig.store, pid)
        waits.append(row["next_check_at"] - now)
        rig.clock.current = row["next_check_at"]
    minutes = [int(w.total_seconds() // 60) for w in waits]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    row = await promise_row(rig.store, pid)
    assert row["plan_errors"] == 9
    # One event for the run, not one per retry: the reason stayed the same.
    assert len(await events_of(rig.store, pid, "plan_error")) == 1


async def test_an_edit_clears_the_plan_error_and_the_promise_is_planned_again(
    rig: Rig,
) -> None:
    pid = await _poisoned(rig)
    await rig.scan()
    await rig.scan()  # not due yet: the backoff holds it
    assert (await promise_row(rig.store, pid))["plan_errors"] == 1

    promise = await rig.ledger.reschedule(pid, rig.clock.now() - timedelta(hours=2), None,
                                          Source.API)  # fmt: skip
    assert promise.plan_error is None and promise.next_check_at == rig.clock.now()
    row = await promise_row(rig.store, pid)
    assert (row["plan_errors"], row["plan_error"]) == (0, None)

    report = await rig.scan()
    assert report.plan_errors == () and report.broken == 1
    await rig.dispatcher.dispatch_until_idle()
    assert sorted(f["To"] for f in rig.twilio.forms()) == ["+5491155550101", "+5491155550199"]


async def test_an_upsert_and_a_keep_clear_it_too(rig: Rig) -> None:
    pid = await _poisoned(rig)
    await rig.scan()
    data = PromiseData(CustomerId("bea"), "delivery", FAR, "order-far",
                       attributes={"order_id": "order-far", "carrier": "andreani"})  # fmt: skip
    await rig.ledger.put_promises([data], Source.API)
    row = await promise_row(rig.store, pid)
    assert (row["plan_errors"], row["plan_error"], row["next_check_at"]) == (
        0, None, rig.clock.now()
    )  # fmt: skip
    await rig.scan()  # the year 9999 is still there: a new run of errors starts
    assert (await promise_row(rig.store, pid))["plan_errors"] == 1
    assert len(await events_of(rig.store, pid, "plan_error")) == 2

    await rig.ledger.keep(pid, Source.API)
    row = await promise_row(rig.store, pid)
    assert (row["status"], row["plan_errors"], row["plan_error"]) == ("kept", 0, None)


async def test_a_row_that_cannot_be_read_is_put_off_with_a_plan_error_alone(rig: Rig) -> None:
    # A status no version of notifier writes, and a customer whose undeliverable map is a list:
    # neither row converts; the scan puts both off and tells ana all the same.
    await rig.customer("ana")
    await rig.promise("ana", "order-1", timedelta(hours=-2))
    now = rig.clock.now()
    await insert_customer(rig.store, "bea", now)
    bogus = await insert_promise(rig.store, "bea", "order-bogus", now, now, status="bogus")
    await insert_customer(rig.store, "cleo", now, undeliverable=["sms"])
    odd = await insert_promise(rig.store, "cleo", "order-cleo", now - timedelta(hours=2), now)

    report = await rig.scan()
    assert report.scheduled == 1
    await rig.dispatcher.dispatch_until_idle()
    assert [f["To"] for f in rig.twilio.forms()] == ["+5491155550101"]  # ana, in this tick

    for pid in (bogus, odd):
        row = await promise_row(rig.store, pid)
        assert row["next_check_at"] == now + timedelta(hours=1)
        assert row["plan_errors"] == 1 and row["plan_error"]["rule"] is None
        (event,) = await events_of(rig.store, pid, "plan_error")
        assert event["data"]["reason"].startswith("the row cannot be read: "), event
    assert (await rig.scan()).promises == 0  # not read again until its hour is up
