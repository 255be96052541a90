"""The purge under NOTIFIER_RETENTION, on SQLite and PostgreSQL, through the real scan.

Every instant is the FakeClock's: the data is made at the rig's start, the purge runs
91 days later with the shipped 90-day retention.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.ingest import PromiseData, RowError, Upserted
from notifier.domain.models import CustomerId, PromiseStatus, Source
from notifier.domain.published import PurgeFigures
from notifier.store.convert import notification_events, notifications, promise_events, promises
from notifier.store.retention import purged_promises
from notifier.store.store import Store
from tests.integration.cli_runner import Cli
from tests.integration.rig import Rig
from tests.integration.test_forget import EMAIL, NAME, PHONE, personal_data_left
from tests.integration.test_import import cli

__all__ = ["cli"]  # the fixture, imported for pytest

RETENTION = timedelta(days=90)
LATER = timedelta(days=91)


def sent_count(rig: Rig) -> int:
    """How many messages the providers accepted so far."""
    return len(rig.twilio.messages) + len(rig.smtp.received)


async def rows(store: Store, *where: Any) -> list[dict[str, Any]]:
    async with store.reading() as conn:
        query = select(notifications).where(*where).order_by(notifications.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def count(store: Store, table: Any, *where: Any) -> int:
    async with store.reading() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def late_promise(rig: Rig, cid: str, ref: str) -> int:
    """A customer with a delivery two hours late, apologised for (the scan and the send)."""
    await rig.customer(cid, phone=f"+54911555{zlib.crc32(cid.encode()) % 100000:05d}")
    pid = await rig.promise(cid, ref, timedelta(hours=-2))
    await rig.tick()
    return pid


async def quiet(rig: Rig) -> None:
    """Scan and send until nothing is due at the clock's instant."""
    for _ in range(5):
        await rig.tick()


async def test_a_settled_promise_goes_with_its_rows_and_its_ref_is_refused(rig: Rig) -> None:
    kept = await late_promise(rig, "c-1", "order-kept")
    assert await rows(rig.store, notifications.c.promise_id == kept)
    await rig.ledger.keep(kept, Source.API)
    await quiet(rig)
    rig.clock.advance(LATER)
    await quiet(rig)
    before = sent_count(rig)

    now = rig.clock.now()
    figures = await rig.store.purge(now - RETENTION, now)

    assert figures.promises == 1 and figures.complete
    assert await rig.store.get_promise(kept) is None
    assert await rows(rig.store, notifications.c.promise_id == kept) == []
    assert await count(rig.store, promise_events, promise_events.c.promise_id == kept) == 0
    assert await rig.store.purged_refs(["order-kept", "order-other"]) == {"order-kept"}
    # Upstream posts it again (a re-import of an old file): refused, never a new promise.
    again = PromiseData(CustomerId("c-1"), "delivery", now - LATER, "order-kept",
                        attributes={"carrier": "oca", "order_id": "order-kept"})  # fmt: skip
    for source in (Source.API, Source.IMPORT):
        (result,) = await rig.ledger.put_promises([again], source)
        assert isinstance(result, RowError) and result.field == "external_ref", result
        assert "NOTIFIER_RETENTION" in result.message
    await quiet(rig)
    assert sent_count(rig) == before
    assert await count(rig.store, promises) == 0


async def test_a_promise_that_can_fire_keeps_its_keys_and_is_not_notified_twice(
    rig: Rig, cli: Cli
) -> None:
    pid = await late_promise(rig, "c-1", "order-open")
    (first,) = await rows(rig.store, notifications.c.promise_id == pid)
    assert first["body"] and first["address"] and first["status"] == "sent"
    assert await count(rig.store, notification_events,
                       notification_events.c.notification_id == first["id"])  # fmt: skip
    rig.clock.advance(LATER)
    await quiet(rig)  # the repeats and the escalation due by now go out first
    keys = {r["dedupe_key"]: r["id"] for r in await rows(rig.store)}
    before = sent_count(rig)

    now = rig.clock.now()
    figures = await rig.store.purge(now - RETENTION, now)

    assert figures.scrubbed >= 1 and figures.promises == 0, figures
    (tomb,) = await rows(rig.store, notifications.c.id == first["id"])
    assert tomb["purged_at"] == now and tomb["status"] == "sent"
    assert tomb["dedupe_key"] == first["dedupe_key"]
    emptied = (tomb["body"], tomb["subject"], tomb["address"], tomb["payload"], tomb["error"])
    assert emptied == (None, None, None, {}, None)
    assert await count(rig.store, notification_events,
                       notification_events.c.notification_id == first["id"]) == 0  # fmt: skip
    promise = await rig.store.get_promise(pid)
    assert promise is not None and promise.status is not PromiseStatus.KEPT
    detail = await rig.store.notification(first["id"])
    assert detail is not None and detail.record.purged_at == now
    # What is left of its history is the first line, read off the row itself.
    assert [e.type for e in detail.history] == ["scheduled"]
    code, out, _ = await cli("notification", "show", str(first["id"]))
    assert code == 0 and "under NOTIFIER_RETENTION" in out, out

    # The same stage planned again, and the same promise posted again with an edit.
    await rig.store.recheck_unsettled(now)
    await quiet(rig)
    edited = PromiseData(CustomerId("c-1"), promise.kind, promise.due_at, "order-open",
                         attributes={**promise.attributes, "note": "re-posted"})  # fmt: skip
    (result,) = await rig.ledger.put_promises([edited], Source.IMPORT)
    assert isinstance(result, Upserted) and result.changed
    await quiet(rig)

    assert sent_count(rig) == before
    assert {r["dedupe_key"]: r["id"] for r in await rows(rig.store)} == keys


async def test_without_its_tombstone_the_same_notice_would_go_out_again(rig: Rig) -> None:
    # What the tombstone prevents: the row deleted outright, the scan plans it afresh.
    pid = await late_promise(rig, "c-1", "order-open")
    (first,) = await rows(rig.store, notifications.c.promise_id == pid)
    before = sent_count(rig)
    async with rig.store.transaction() as conn:
        await conn.execute(delete(notifications).where(notifications.c.id == first["id"]))
    await rig.store.recheck_unsettled(rig.clock.now())
    await rig.tick()
    assert sent_count(rig) == before + 1
    (again,) = await rows(rig.store, notifications.c.dedupe_key == first["dedupe_key"])
    assert again["status"] == "sent" and again["created_at"] == rig.clock.now()


async def test_rows_in_flight_and_recent_ones_are_left_alone(rig: Rig) -> None:
    pending = await late_promise(rig, "c-1", "order-pending")
    sending = await late_promise(rig, "c-2", "order-sending")
    rig.clock.advance(timedelta(hours=25))
    await quiet(rig)  # the first daily follow-up: two rows each
    for pid in (pending, sending):
        assert len(await rows(rig.store, notifications.c.promise_id == pid)) == 2
        await rig.ledger.keep(pid, Source.API)
    await quiet(rig)
    rig.clock.advance(LATER)
    recent = await late_promise(rig, "c-3", "order-recent")
    await rig.ledger.keep(recent, Source.API)
    await quiet(rig)
    for pid, status in ((pending, "pending"), (sending, "sending")):
        async with rig.store.transaction() as conn:  # as a long hold or a crash leaves it
            first = select(func.min(notifications.c.id)).where(notifications.c.promise_id == pid)
            await conn.execute(
                update(notifications)
                .where(notifications.c.id == first.scalar_subquery())
                .values(status=status)
            )
    kept_before = await rows(rig.store, notifications.c.promise_id.in_([pending, sending, recent]))

    now = rig.clock.now()
    await rig.store.purge(now - RETENTION, now)

    for pid in (pending, sending, recent):
        assert await rig.store.get_promise(pid) is not None
    after = {r["id"]: r for r in await rows(rig.store, notifications.c.id.in_(
        [r["id"] for r in kept_before]))}  # fmt: skip
    emptied = 0
    for row in kept_before:
        if row["status"] in ("pending", "sending") or row["promise_id"] == recent:
            assert after[row["id"]] == row  # untouched, body and all
        else:  # old and done, its promise kept from deletion by the row in flight
            assert after[row["id"]]["purged_at"] == now and after[row["id"]]["body"] is None
            emptied += 1
    assert emptied == 2  # each one's follow-up


async def seven_old_kept(rig: Rig) -> tuple[list[int], dict[int, int]]:
    """Seven late promises kept, then past the retention: their ids and notification counts."""
    ids = []
    for i in range(7):
        ids.append(await late_promise(rig, f"c-{i}", f"order-{i}"))
        await rig.ledger.keep(ids[-1], Source.API)
    await quiet(rig)
    rig.clock.advance(LATER)
    await quiet(rig)
    per_promise = {pid: len(await rows(rig.store, notifications.c.promise_id == pid))
                   for pid in ids}  # fmt: skip
    return ids, per_promise


async def test_batches_are_bounded_and_a_cut_short_run_loses_nothing_else(rig: Rig) -> None:
    ids, per_promise = await seven_old_kept(rig)
    now = rig.clock.now()

    # 30 rows a batch: three promises with their rows.
    first = await rig.store.purge(now - RETENTION, now, batch=30, max_batches=1)

    assert (first.promises, first.batches, first.complete) == (3, 1, False)
    for n, pid in enumerate(ids):
        left = len(await rows(rig.store, notifications.c.promise_id == pid))
        # Whole promises only: the first batch's three are gone with all their rows, the
        # others have every row and every line of history still.
        assert left == (0 if n < 3 else per_promise[pid]), (n, left)
        assert (await rig.store.get_promise(pid) is None) == (n < 3)
    assert len(await rig.store.purged_refs([f"order-{i}" for i in range(7)])) == 3

    rest = await rig.store.purge(now - RETENTION, now, batch=30, max_batches=100)
    assert rest.complete and first.promises + rest.promises == 7
    # Two batches of promises (3, then the last 1), then one for each other kind (old
    # notifications, promise history, touchpoint texts, crisis reply texts).
    assert rest.batches == 2 + 4
    assert await count(rig.store, promises) == 0
    assert await count(rig.store, purged_promises) == 7
    again = await rig.store.purge(now - RETENTION, now)
    assert again == PurgeFigures(batches=5)


async def test_a_forgotten_customer_stays_forgotten_and_addresses_go(rig: Rig) -> None:
    await rig.customer("c-1", last_used="sms", name=NAME, phone=PHONE, email=EMAIL)
    pid = await rig.promise("c-1", "order-1", timedelta(hours=-2))
    other = await late_promise(rig, "c-2", "order-2")
    await rig.tick()
    await rig.ledger.forget("c-1")
    rig.clock.advance(LATER)
    await quiet(rig)
    before = sent_count(rig)

    now = rig.clock.now()
    await rig.store.purge(now - RETENTION, now)
    await rig.store.recheck_unsettled(now)
    await quiet(rig)

    assert await personal_data_left(rig.store) == []
    assert sent_count(rig) == before
    purged = await rows(rig.store, notifications.c.purged_at.is_not(None))
    assert {r["promise_id"] for r in purged} >= {pid, other}
    assert all(r["address"] is None and r["body"] is None for r in purged)


class _DiesBeforeCommit(Store):
    """The store, its ``fail_at``-th transaction failing after its statements, before COMMIT."""

    fail_at = 2
    seen = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with super().transaction() as conn:
            yield conn
            self.seen += 1
            if self.seen == self.fail_at:
                raise ConnectionError("the database went away before COMMIT")


async def test_a_batch_that_fails_before_commit_leaves_its_rows_whole(
    rig: Rig, db_url: str
) -> None:
    ids, per_promise = await seven_old_kept(rig)
    history = await count(rig.store, promise_events)
    now = rig.clock.now()
    dying = _DiesBeforeCommit.open(db_url)
    try:
        with pytest.raises(ConnectionError):
            await dying.purge(now - RETENTION, now, batch=30)
    finally:
        await dying.close()

    # The first batch (three promises) committed; the second rolled back whole.
    gone = [pid for pid in ids if await rig.store.get_promise(pid) is None]
    assert len(gone) == 3
    for pid in set(ids) - set(gone):
        assert len(await rows(rig.store, notifications.c.promise_id == pid)) == per_promise[pid]
    assert len(await rig.store.purged_refs([f"order-{i}" for i in range(7)])) == 3
    assert 0 < await count(rig.store, promise_events) < history
    assert (await rig.store.purge(now - RETENTION, now, batch=30)).promises == 4
    assert await count(rig.store, promises) == 0
