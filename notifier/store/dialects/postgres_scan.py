"""The scan's write on PostgreSQL: one statement a batch, every row passed as arrays.

A batch of 1,000 promises writes about 1,200 outbox rows and the promises' new state.
Row-by-row parameters cost PostgreSQL a fresh parse and plan of a statement with tens of
thousands of placeholders, and the driver a tuple per row; one ``unnest`` over a column
array each is parsed once and stays prepared. The outbox rows, the held notices'
history, the promises' new state and the broken promises' events all go in one
statement: a single statement is atomic by itself, so it runs without BEGIN and COMMIT
round trips, while the scan plans the next batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.models import NotificationStatus, PromiseEventType, PromiseStatus, Source
from notifier.domain.outbox import PromiseChange, Scheduled, outbox_payload
from notifier.store.convert import plan_error_data, plan_error_json

# Data-modifying WITH clauses all run to completion, whatever the final SELECT reads.
# - New outbox rows, once per dedupe key, and the "held" history line of those that wait
#   (why a row was scheduled is in its payload: its history's first line is the row).
# - Each promise's next check and, for the ones that broke, the break and its event. A
#   row changed since it was read (kept through the API meanwhile) fails the updated_at
#   check and stays as the API left it; it is checked again by the next scan.
_WRITE_BATCH = text("""
WITH v AS (
  SELECT * FROM unnest(
    CAST(:keys AS TEXT[]), CAST(:customers AS TEXT[]), CAST(:promises AS BIGINT[]),
    CAST(:incidents AS BIGINT[]), CAST(:rules AS TEXT[]), CAST(:messages AS TEXT[]),
    CAST(:stages AS TEXT[]), CAST(:steps AS INTEGER[]), CAST(:priorities AS TEXT[]),
    CAST(:choices AS TEXT[]), CAST(:fallbacks AS TEXT[]), CAST(:not_befores AS TIMESTAMPTZ[]),
    CAST(:payloads AS TEXT[]), CAST(:held AS TEXT[]), CAST(:held_details AS TEXT[])
  ) AS v(key, customer_id, promise_id, incident_id, rule_id, message, stage, step,
         priority, choice, fallback, not_before, payload, held, held_detail)
), ins AS (
  INSERT INTO notifications (dedupe_key, customer_id, promise_id, incident_id, rule_id,
    message, stage, step, priority, channel_choice, fallback, failed_channels, status,
    not_before, attempts, payload, created_at, updated_at)
  SELECT key, customer_id, promise_id, incident_id, rule_id, message, stage, step, priority,
    choice, CAST(fallback AS JSON), CAST('[]' AS JSON), :pending, not_before, 0,
    CAST(payload AS JSON), :now, :now
  FROM v
  ON CONFLICT (dedupe_key) DO NOTHING
  RETURNING id, dedupe_key
), held AS (
  INSERT INTO notification_events (notification_id, at, type, channel, reason, detail)
  SELECT ins.id, :now, 'held', NULL, v.held, CAST(v.held_detail AS JSON)
  FROM ins JOIN v ON v.key = ins.dedupe_key
  WHERE v.held IS NOT NULL
), p AS (
  SELECT * FROM unnest(
    CAST(:ids AS BIGINT[]), CAST(:seen AS TIMESTAMPTZ[]), CAST(:next AS TIMESTAMPTZ[]),
    CAST(:broken AS BOOLEAN[]), CAST(:data AS TEXT[]), CAST(:errors AS INTEGER[]),
    CAST(:error_states AS TEXT[]), CAST(:error_events AS TEXT[])
  ) AS p(id, seen, next, broken, data, errors, error_state, error_event)
), upd AS (
  UPDATE promises AS promise SET
    next_check_at = p.next,
    plan_errors = p.errors,
    plan_error = CAST(p.error_state AS JSON),
    status = CASE WHEN p.broken THEN :broken_status ELSE promise.status END,
    status_changed_at = CASE WHEN p.broken THEN :now ELSE promise.status_changed_at END,
    times_broken = CASE WHEN p.broken THEN promise.times_broken + 1
                        ELSE promise.times_broken END,
    updated_at = CASE WHEN p.broken THEN :now ELSE promise.updated_at END
  FROM p
  WHERE promise.id = p.id AND promise.updated_at = p.seen
  RETURNING promise.id, promise.deadline_version, p.broken, p.data, p.error_event
), broke AS (
  INSERT INTO promise_events (promise_id, type, at, source, deadline_version, data)
  SELECT id, :event, :now, :source, deadline_version, CAST(data AS JSON)
  FROM upd WHERE broken
), failed AS (
  INSERT INTO promise_events (promise_id, type, at, source, deadline_version, data)
  SELECT id, :plan_error, :now, :source, deadline_version, CAST(error_event AS JSON)
  FROM upd WHERE error_event IS NOT NULL
)
SELECT count(*) FROM ins
""")


async def write_batch(
    conn: AsyncConnection,
    changes: Sequence[PromiseChange],
    scheduled: Sequence[Scheduled],
    now: datetime,
) -> int:
    """Write one scan batch in one statement; return how many outbox rows went in.

    ``conn`` may be in autocommit: the statement is its own transaction.
    """
    params = _outbox_params(scheduled) | _promise_params(changes)
    params |= {
        "pending": NotificationStatus.PENDING.value,
        "broken_status": PromiseStatus.BROKEN.value,
        "event": PromiseEventType.BROKEN.value,
        "plan_error": PromiseEventType.PLAN_ERROR.value,
        "source": Source.DAEMON.value,
        "now": now,
    }
    return int((await conn.execute(_WRITE_BATCH, params)).scalar_one())


@lru_cache(maxsize=256)  # a rule's fallback chain, the same on all its notices
def _json_list(items: tuple[str, ...]) -> str:
    return json.dumps(list(items))


def _outbox_params(scheduled: Sequence[Scheduled]) -> dict[str, Any]:
    notices = [s.notice for s in scheduled]
    return {
        "keys": [n.dedupe_key for n in notices],
        "customers": [n.customer_id for n in notices],
        "promises": [None if n.promise_id is None else int(n.promise_id) for n in notices],
        "incidents": [n.incident_id for n in notices],
        "rules": [n.rule_id for n in notices],
        "messages": [n.message for n in notices],
        "stages": [n.stage for n in notices],
        "steps": [n.step for n in notices],
        "priorities": [n.priority for n in notices],
        "choices": [n.channel for n in notices],
        "fallbacks": [_json_list(n.fallback) for n in notices],
        "not_befores": [s.not_before for s in scheduled],
        "payloads": [json.dumps(outbox_payload(n)) for n in notices],
        "held": [s.held for s in scheduled],
        "held_details": [
            json.dumps({"until": s.not_before.isoformat()}) if s.held else None for s in scheduled
        ],
    }


def _promise_params(changes: Sequence[PromiseChange]) -> dict[str, Any]:
    return {
        "ids": [int(c.promise.id) for c in changes],
        "seen": [c.promise.updated_at for c in changes],
        "next": [c.next_check_at for c in changes],
        "broken": [c.broken for c in changes],
        # An ISO 8601 instant needs no JSON escaping.
        "data": [
            f'{{"due_at": "{c.promise.due_at.isoformat()}"}}' if c.broken else None for c in changes
        ],
        # The plan-error state (None clears it) and, when reported, its event's data.
        "errors": [c.error.count if c.error else 0 for c in changes],
        "error_states": [_json_or_none(plan_error_json(c.error)) for c in changes],
        "error_events": [json.dumps(plan_error_data(c)) if c.report else None for c in changes],
    }


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)
