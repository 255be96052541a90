"""Outbound events written in the transaction of the change they report.

Every write that changes a notification's status or a promise's state calls one of the
``report_*`` functions on its own connection, after its history lines: the event commits
with the change or not at all. They do nothing unless the store was opened with events
on (``Store.open(url, events=True)``, from NOTIFIER_EVENTS_URL: the daemon, the CLI and
the API alike), which the engine carries as an execution option to every connection.

Each stream (a promise, or a customer for a notice about no promise) numbers its events
in ``event_sequences``: the row's lock, held to the commit, makes a second writer of the
same stream wait, so sequences commit in order. It is taken last in each transaction,
streams in sorted order, so two writers never wait on each other in a cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.domain.crm_events import (
    NOTIFICATION_CHANGED,
    PROMISE_CHANGED,
    PROMISE_CHANGES,
    Draft,
    NotificationFacts,
    PromiseFacts,
    event_body,
    stream_of,
)
from notifier.domain.models import NotificationStatus, PromiseStatus
from notifier.domain.outbox import PromiseChange, Scheduled
from notifier.store.convert import event_outbox, event_sequences, notifications, promises
from notifier.store.dialects import dialect_of

EVENTS_OPTION = "notifier_events"
_CHUNK = 500  # rows per statement: well under SQLite's bound on parameters
_WITHOUT_REASON = frozenset(
    s.value for s in (NotificationStatus.PENDING, NotificationStatus.SENT,
                      NotificationStatus.DELIVERED)
)  # fmt: skip


def enable_events(engine: AsyncEngine) -> None:
    """Make every connection of ``engine`` write outbound events with the changes."""
    engine.sync_engine.update_execution_options(**{EVENTS_OPTION: True})


def events_enabled(conn: AsyncConnection) -> bool:
    """True when ``conn``'s engine writes outbound events."""
    sync = conn.sync_connection
    return sync is not None and bool(sync.get_execution_options().get(EVENTS_OPTION))


async def report_notifications(conn: AsyncConnection, ids: Collection[int], now: datetime) -> None:
    """Write a ``notification.status_changed`` event for each of ``ids``, as it stands now.

    Messages to ops are no part of the customer's thread: they get none.
    """
    if events_enabled(conn):
        await _append(conn, await _notification_drafts(conn, ids), now)


async def _notification_drafts(conn: AsyncConnection, ids: Collection[int]) -> list[Draft]:
    n, p = notifications.c, promises.c
    drafts: list[Draft] = []
    for chunk in _chunks(sorted(set(ids))):
        rows = await conn.execute(
            select(n.id, n.customer_id, n.promise_id, n.channel, n.status, n.message,
                   n.provider_id, n.error_code, n.payload, p.external_ref, p.kind,
                   p.status.label("promise_status"))
            .select_from(notifications.outerjoin(promises, p.id == n.promise_id))
            .where(n.id.in_(chunk))
            .order_by(n.id)
        )  # fmt: skip
        drafts.extend(d for r in rows.mappings() if (d := _notification_draft(r)) is not None)
    return drafts


def _notification_draft(r: Any) -> Draft | None:
    stream = stream_of(r["promise_id"], r["customer_id"])
    if stream is None or (r["payload"] or {}).get("audience") == "ops":
        return None
    promise = None
    if r["promise_id"] is not None:
        promise = PromiseFacts(r["promise_id"], r["external_ref"], r["kind"], r["promise_status"])
    # The code of the last failure lingers on a row that went out later: not its reason.
    reason = None if r["status"] in _WITHOUT_REASON else r["error_code"]
    facts = NotificationFacts(
        r["id"], r["channel"], r["status"], r["message"], r["provider_id"], reason
    )
    return Draft(stream, NOTIFICATION_CHANGED, r["customer_id"], promise, facts)


async def report_promises(
    conn: AsyncConnection, history: Iterable[dict[str, Any]], now: datetime
) -> None:
    """Write a ``promise.status_changed`` event for each state-changing history line.

    ``history`` is the ``promise_events`` rows just written (promise_id, type).
    """
    if events_enabled(conn):
        await _append(conn, await _promise_drafts(conn, history), now)


async def _promise_drafts(conn: AsyncConnection, history: Iterable[dict[str, Any]]) -> list[Draft]:
    lines = [(int(h["promise_id"]), str(h["type"])) for h in history]
    lines = [(pid, change) for pid, change in lines if change in PROMISE_CHANGES]
    if not lines:
        return []
    p = promises.c
    facts: dict[int, tuple[str, PromiseFacts]] = {}
    for chunk in _chunks(sorted({pid for pid, _ in lines})):
        rows = await conn.execute(
            select(p.id, p.customer_id, p.external_ref, p.kind, p.status).where(p.id.in_(chunk))
        )
        for r in rows:
            facts[r[0]] = (r[1], PromiseFacts(r[0], r[2], r[3], r[4]))
    return [
        Draft(f"promise:{pid}", PROMISE_CHANGED, facts[pid][0], facts[pid][1], change=change)
        for pid, change in lines
        if pid in facts
    ]


async def report_scan(
    conn: AsyncConnection,
    changes: Sequence[PromiseChange],
    scheduled: Sequence[Scheduled],
    now: datetime,
) -> None:
    """Report what one scan batch wrote on ``conn``: its new outbox rows, its broken promises.

    The batch's own rows are the ones stamped with its instant: a dedupe key scheduled
    before kept its row, and a promise edited meanwhile kept the API's write.
    """
    if not events_enabled(conn):
        return
    keys = [s.notice.dedupe_key for s in scheduled if s.notice.audience != "ops"]
    fresh: list[int] = []
    for chunk in _chunks(keys):
        rows = await conn.execute(
            select(notifications.c.id).where(
                notifications.c.dedupe_key.in_(chunk), notifications.c.created_at == now
            )
        )
        fresh.extend(r[0] for r in rows)
    broken: list[int] = []
    for chunk in _chunks([c.promise.id for c in changes if c.broken]):
        rows = await conn.execute(
            select(promises.c.id).where(
                and_(promises.c.id.in_(chunk), promises.c.status == PromiseStatus.BROKEN.value,
                     promises.c.status_changed_at == now, promises.c.updated_at == now)
            )
        )  # fmt: skip
        broken.extend(r[0] for r in rows)
    # One numbering pass: its streams locked in one sorted order, like every other writer's.
    drafts = await _promise_drafts(conn, [{"promise_id": i, "type": "broken"} for i in broken])
    await _append(conn, [*drafts, *await _notification_drafts(conn, fresh)], now)


async def _append(conn: AsyncConnection, drafts: Sequence[Draft], now: datetime) -> None:
    """Number ``drafts`` in their streams (in the order given) and insert them."""
    if not drafts:
        return
    counts: dict[str, int] = {}
    for d in drafts:
        counts[d.stream] = counts.get(d.stream, 0) + 1
    last = await _advance(conn, counts)
    next_of = {stream: last[stream] - n for stream, n in counts.items()}
    rows = []
    for d in drafts:
        next_of[d.stream] += 1
        key = uuid.uuid4().hex
        rows.append(
            {"key": key, "stream": d.stream, "sequence": next_of[d.stream], "type": d.type,
             "body": event_body(d, key, next_of[d.stream], now), "created_at": now,
             "not_before": now, "attempts": 0}
        )  # fmt: skip
    for chunk in _chunks(rows):
        await conn.execute(event_outbox.insert(), chunk)


async def _advance(conn: AsyncConnection, counts: dict[str, int]) -> dict[str, int]:
    """Count each stream's sequence up by its number of new events; return the new lasts."""
    dialect = dialect_of(conn)
    last: dict[str, int] = {}
    for chunk in _chunks(sorted(counts)):  # sorted: every writer locks streams in one order
        insert = dialect.insert(event_sequences).values(
            [{"stream": s, "last": counts[s]} for s in chunk]
        )
        upsert = insert.on_conflict_do_update(
            index_elements=["stream"],
            set_={"last": event_sequences.c.last + insert.excluded.last},
        ).returning(event_sequences.c.stream, event_sequences.c.last)
        last.update({r[0]: int(r[1]) for r in await conn.execute(upsert)})
    return last


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
