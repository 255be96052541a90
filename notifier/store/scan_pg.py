"""The scan's writes on PostgreSQL: two statements a batch, every row passed as arrays.

A batch of 1,000 promises writes about 1,200 outbox rows and the promises' new state.
Row-by-row parameters cost PostgreSQL a fresh parse and plan of a statement with tens of
thousands of placeholders, and the driver a tuple per row; one ``unnest`` over a column
array each is parsed once and stays prepared, and the rows that go with them (held
notices' history, broken promises' events) ride in the same round trip.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.models import NotificationStatus, PromiseEventType, PromiseStatus, Source
from notifier.domain.outbox import PromiseChange, Scheduled, outbox_payload

# New outbox rows, once per dedupe key, and the "held" history line of those that wait.
# (Data-modifying WITH clauses all run to completion.) Why a row was scheduled is in its
# payload: its history's first line is read from the row itself.
_INSERT_OUTBOX = text("""
WITH v AS (
  SELECT * FROM unnest(
    CAST(:keys AS TEXT[]), CAST(:customers AS TEXT[]), CAST(:promises AS BIGINT[]),
    CAST(:rules AS TEXT[]), CAST(:messages AS TEXT[]), CAST(:stages AS TEXT[]),
    CAST(:steps AS INTEGER[]), CAST(:priorities AS TEXT[]), CAST(:choices AS TEXT[]),
    CAST(:fallbacks AS TEXT[]), CAST(:not_befores AS TIMESTAMPTZ[]),
    CAST(:payloads AS TEXT[]), CAST(:held AS TEXT[]), CAST(:held_details AS TEXT[])
  ) AS v(key, customer_id, promise_id, rule_id, message, stage, step, priority, choice,
         fallback, not_before, payload, held, held_detail)
), ins AS (
  INSERT INTO notifications (dedupe_key, customer_id, promise_id, rule_id, message, stage,
    step, priority, channel_choice, fallback, failed_channels, status, not_before,
    attempts, payload, created_at, updated_at)
  SELECT key, customer_id, promise_id, rule_id, message, stage, step, priority, choice,
    CAST(fallback AS JSON), CAST('[]' AS JSON), :pending, not_before, 0,
    CAST(payload AS JSON), :now, :now
  FROM v
  ON CONFLICT (dedupe_key) DO NOTHING
  RETURNING id, dedupe_key
), held AS (
  INSERT INTO notification_events (notification_id, at, type, channel, reason, detail)
  SELECT ins.id, :now, 'held', NULL, v.held, CAST(v.held_detail AS JSON)
  FROM ins JOIN v ON v.key = ins.dedupe_key
  WHERE v.held IS NOT NULL
)
SELECT count(*) FROM ins
""")

# Each promise's next check and, for the ones that broke, the break and its event. A row
# changed since it was read (kept through the API meanwhile) fails the updated_at check
# and stays as the API left it; it is checked again by the next scan.
_UPDATE_PROMISES = text("""
WITH v AS (
  SELECT * FROM unnest(
    CAST(:ids AS BIGINT[]), CAST(:seen AS TIMESTAMPTZ[]), CAST(:next AS TIMESTAMPTZ[]),
    CAST(:broken AS BOOLEAN[]), CAST(:data AS TEXT[])
  ) AS v(id, seen, next, broken, data)
), upd AS (
  UPDATE promises AS p SET
    next_check_at = v.next,
    status = CASE WHEN v.broken THEN :broken_status ELSE p.status END,
    status_changed_at = CASE WHEN v.broken THEN :now ELSE p.status_changed_at END,
    times_broken = CASE WHEN v.broken THEN p.times_broken + 1 ELSE p.times_broken END,
    updated_at = CASE WHEN v.broken THEN :now ELSE p.updated_at END
  FROM v
  WHERE p.id = v.id AND p.updated_at = v.seen
  RETURNING p.id, p.deadline_version, v.broken, v.data
)
INSERT INTO promise_events (promise_id, type, at, source, deadline_version, data)
SELECT id, :event, :now, :source, deadline_version, CAST(data AS JSON)
FROM upd WHERE broken
""")


async def insert_outbox(
    conn: AsyncConnection, scheduled: Sequence[Scheduled], now: datetime
) -> int:
    """Insert the outbox rows not there yet, with their history; return how many went in."""
    if not scheduled:
        return 0
    notices = [s.notice for s in scheduled]
    params = {
        "keys": [n.dedupe_key for n in notices],
        "customers": [n.customer_id for n in notices],
        "promises": [int(n.promise_id) for n in notices],
        "rules": [n.rule_id for n in notices],
        "messages": [n.message for n in notices],
        "stages": [n.stage for n in notices],
        "steps": [n.step for n in notices],
        "priorities": [n.priority for n in notices],
        "choices": [n.channel for n in notices],
        "fallbacks": [json.dumps(list(n.fallback)) for n in notices],
        "not_befores": [s.not_before for s in scheduled],
        "payloads": [json.dumps(outbox_payload(n)) for n in notices],
        "held": [s.held for s in scheduled],
        "held_details": [
            json.dumps({"until": s.not_before.isoformat()}) if s.held else None for s in scheduled
        ],
        "pending": NotificationStatus.PENDING.value,
        "now": now,
    }
    return int((await conn.execute(_INSERT_OUTBOX, params)).scalar_one())


async def update_promises(
    conn: AsyncConnection, changes: Sequence[PromiseChange], now: datetime
) -> None:
    """Write each promise's next check, and the break of those that broke, with its event."""
    if not changes:
        return
    await conn.execute(
        _UPDATE_PROMISES,
        {
            "ids": [int(c.promise.id) for c in changes],
            "seen": [c.promise.updated_at for c in changes],
            "next": [c.next_check_at for c in changes],
            "broken": [c.broken for c in changes],
            "data": [
                json.dumps({"due_at": c.promise.due_at.isoformat()}) if c.broken else None
                for c in changes
            ],
            "broken_status": PromiseStatus.BROKEN.value,
            "event": PromiseEventType.BROKEN.value,
            "source": Source.DAEMON.value,
            "now": now,
        },
    )
