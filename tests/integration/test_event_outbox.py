"""The event outbox: each change writes its event in its own transaction, numbered per promise.

On SQLite and PostgreSQL, through the real scan, dispatcher, ledger and forget, with the
Twilio and SMTP fakes: a store opened with events on (as NOTIFIER_EVENTS_URL opens it).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from notifier.cli.status_report import status_lines, status_view
from notifier.domain.models import Source
from notifier.domain.outcomes import Outcome, OutcomeKind
from notifier.domain.verdict import judge
from notifier.engine.reporting.service import Reporting
from notifier.store.convert import event_outbox
from notifier.store.event_writes import report_promises
from notifier.store.store import Store
from tests.integration.cli_runner import Cli
from tests.integration.rig import Rig
from tests.integration.test_forget import EMAIL, NAME, PHONE, personal_data_left


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = Store.open(db_url, events=True)
    yield s
    await s.close()


async def bodies(store: Store) -> list[dict[str, Any]]:
    """Every event written, in stream then sequence order, as its receiver will parse it."""
    async with store.reading() as conn:
        rows = await conn.execute(
            select(event_outbox.c.body).order_by(event_outbox.c.stream, event_outbox.c.sequence)
        )
        return [json.loads(r[0]) for r in rows]


def thread(events: list[dict[str, Any]], stream: str) -> list[tuple[int, str, str]]:
    """(sequence, type, what changed) of one stream's events."""
    return [
        (e["sequence"], e["type"], e.get("change") or e["notification"]["status"])
        for e in events
        if e["stream"] == stream
    ]


async def test_a_late_delivery_reads_as_one_thread_per_promise(rig: Rig) -> None:
    await rig.customer("c-1", last_used="sms")
    pid = await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.tick()
    await rig.ledger.keep(pid, Source.API)

    events = await bodies(rig.store)
    assert thread(events, f"promise:{pid}") == [
        (1, "promise.status_changed", "created"),
        (2, "promise.status_changed", "broken"),
        (3, "notification.status_changed", "pending"),
        (4, "notification.status_changed", "sent"),
        (5, "promise.status_changed", "kept"),
    ]
    sent = events[3]
    assert sent["promise"] == {
        "id": pid, "external_ref": "order-1", "kind": "delivery", "status": "broken"
    }  # fmt: skip
    assert sent["customer"] == {"id": "c-1"}
    n = sent["notification"]
    assert n["channel"] == "sms" and n["message"] == "delivery_late"
    assert n["provider_message_id"].startswith("SM") and n["reason"] is None
    assert len({e["id"] for e in events}) == len(events)  # each its own idempotency key
    # No body, address or name: the receiver gets ids and codes.
    text = json.dumps(events)
    assert "+5491155550101" not in text and "c-1@example.com" not in text
    assert "Ana" not in text


async def test_no_event_without_the_setting(store: Store, db_url: str, rig: Rig) -> None:
    plain = Store.open(db_url)  # NOTIFIER_EVENTS_URL unset
    try:
        rig.ledger.store = plain
        await rig.customer("c-1")
        await rig.promise("c-1", "order-1", timedelta(hours=-2))
    finally:
        await plain.close()
    assert await bodies(store) == []


async def test_an_event_is_rolled_back_with_its_change(store: Store) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with store.transaction() as conn:
            await report_promises(conn, [{"promise_id": 1, "type": "kept"}], store_now())
            raise Boom
    assert await bodies(store) == []


def store_now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def test_a_failed_send_reports_a_code_and_forget_leaves_nothing_personal(rig: Rig) -> None:
    await rig.customer("c-1", last_used="sms", name=NAME, phone=PHONE, email=EMAIL)
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.tick()  # the SMS fails quoting the number, the email quoting the address
    await rig.promise("c-1", "order-2", timedelta(hours=-2))
    await rig.scan()  # order-2's apology waits in the outbox

    await rig.ledger.forget("c-1")

    events = await bodies(rig.store)
    statuses = [e["notification"]["status"] for e in events if "notification" in e]
    assert "cancelled" in statuses  # forget cancelled what was pending, and said so
    failed = [e["notification"] for e in events if e.get("notification", {}).get("reason")]
    assert failed and all(" " not in n["reason"] for n in failed)  # codes, not the error text
    assert await personal_data_left(rig.store) == []


async def test_each_stream_is_numbered_without_gaps(rig: Rig) -> None:
    await rig.customer("c-1")
    pids = [await rig.promise("c-1", f"order-{i}", timedelta(hours=1)) for i in range(3)]
    for pid in pids:
        await rig.ledger.reschedule(pid, rig.clock.now() + timedelta(days=1), None, Source.API)
        await rig.ledger.cancel(pid, Source.API)
    events = await bodies(rig.store)
    for pid in pids:
        assert [s for s, _, _ in thread(events, f"promise:{pid}")] == [1, 2, 3]
        assert [c for _, _, c in thread(events, f"promise:{pid}")] == [
            "created", "rescheduled", "cancelled"
        ]  # fmt: skip


async def test_status_counts_the_events_waiting(rig: Rig) -> None:
    await rig.customer("c-1")
    await rig.promise("c-1", "order-1", timedelta(hours=1))
    rig.clock.advance(timedelta(minutes=3))
    report = await Reporting(rig.store, rig.clock).status()
    assert (report.events.pending, report.events.parked) == (1, 0)
    verdict = judge(report, timedelta(seconds=30))
    assert "events: 1 pending, the oldest written 3m ago" in status_lines(report, verdict)
    assert status_view(report)["events"]["oldest_age_s"] == 180.0


async def test_concurrent_writers_of_the_same_promises_number_them_without_gaps(
    store: Store, rig: Rig
) -> None:
    await rig.customer("c-1")
    pids = [await rig.promise("c-1", f"order-{i}", timedelta(hours=1)) for i in range(6)]
    rng = random.Random(17)

    async def writer(n: int) -> None:
        # Several promises per transaction, in any order: the writes lock them sorted.
        chosen = rng.sample(pids, 4)
        async with store.transaction() as conn:
            await report_promises(conn, [{"promise_id": p, "type": "kept"} for p in chosen],
                                  store_now())  # fmt: skip

    await asyncio.gather(*(writer(n) for n in range(40)))
    events = await bodies(store)
    for pid in pids:
        numbers = [s for s, _, _ in thread(events, f"promise:{pid}")]
        assert numbers == list(range(1, len(numbers) + 1))
    assert sum(1 for e in events if e.get("change") == "kept") == 160


async def test_a_delivery_report_adds_delivered_to_the_thread(rig: Rig) -> None:
    await rig.customer("c-1", last_used="sms")
    pid = await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.tick()
    sent = [e for e in await bodies(rig.store) if e.get("notification")]
    sid = sent[-1]["notification"]["provider_message_id"]

    report = Outcome(OutcomeKind.DELIVERED, provider_id=sid, status="delivered")
    await rig.store.record_delivery(report, rig.clock.now())
    await rig.store.record_delivery(report, rig.clock.now())  # a retried callback: no news

    assert [c for _, _, c in thread(await bodies(rig.store), f"promise:{pid}")] == [
        "created", "broken", "pending", "sent", "delivered"
    ]  # fmt: skip


async def test_the_cli_writes_events_and_requeues_the_parked(
    rig: Rig, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    monkeypatch.setenv("NOTIFIER_TEST_MODE", "1")
    monkeypatch.setenv("NOTIFIER_NOW", rig.clock.now().isoformat())
    monkeypatch.setenv("NOTIFIER_EVENTS_URL", "http://127.0.0.1:9/events")
    monkeypatch.setenv("NOTIFIER_EVENTS_SECRET", "whsec-0123456789abcdef")
    cli = Cli(capsys)
    await rig.customer("c-1")
    pid = await rig.promise("c-1", "order-1", timedelta(hours=1))

    code, _, err = await cli("promise", "cancel", str(pid))
    assert code == 0, err
    assert thread(await bodies(rig.store), f"promise:{pid}")[-1] == (
        2, "promise.status_changed", "cancelled"
    )  # fmt: skip

    async with rig.store.transaction() as conn:  # as the relay parks a refused event
        await conn.execute(update(event_outbox).values(parked_at=rig.clock.now()))
    code, out, _ = await cli("status")
    assert "events: 0 pending; 2 parked" in out
    code, out, err = await cli("events", "requeue")
    assert (code, out) == (0, "requeued 2 parked event(s)\n"), err
    assert (await rig.store.event_backlog()).pending == 2
