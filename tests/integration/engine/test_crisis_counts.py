"""`incident show`'s counts come from one GROUP BY: every state, on both databases.

Each customer below has the rows of one incident a fan-out can leave (several steps, the
resolution, a row of another incident); the database must put each customer in the state
and on the channel ``domain/incident_counts.py`` defines, once.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from notifier.domain.crisis import PAUSED, WAITING
from notifier.domain.incident_counts import NO_CHANNEL, STATES
from notifier.domain.incidents import OPENED, RESOLVED, UPDATED, Severity
from notifier.engine.crisis.commands import Incidents
from notifier.engine.crisis.texts import Texts
from notifier.store.convert import incident_customers, notifications
from tests.integration.rig import Rig

# A row: (step, message, status, channel, error_code, due in minutes, attempted)
Row = tuple[int, str, str, str | None, str | None, int, bool]
# (customer, their rows of the incident, the state and channel they are counted in)
CASES: list[tuple[str, list[Row], str, str]] = [
    ("c-sent", [(0, OPENED, "sent", "sms", None, 0, True)], "told", "sms"),
    ("c-unknown", [(0, OPENED, "unknown", "whatsapp", None, 0, True)], "told", "whatsapp"),
    ("c-told-update-due", [(0, OPENED, "delivered", "email", None, 0, True),
                           (1, UPDATED, "pending", None, None, 0, False)], "told", "email"),
    ("c-failed-then-told", [(0, OPENED, "failed", "sms", None, 0, True),
                            (1, UPDATED, "delivered", "email", None, 0, True)], "told", "email"),
    ("c-resolved", [(0, OPENED, "delivered", "sms", None, 0, True),
                    (1, RESOLVED, "sent", "sms", None, 0, True)], "told", "sms"),
    ("c-paused", [(0, OPENED, "pending", None, PAUSED, 60, False)], "held", NO_CHANNEL),
    ("c-unconfirmed", [(0, OPENED, "pending", None, WAITING, 60, False)], "held", NO_CHANNEL),
    ("c-quiet", [(0, OPENED, "pending", None, None, 120, False)], "deferred", NO_CHANNEL),
    ("c-due", [(0, OPENED, "pending", None, None, -1, False)], "pending", NO_CHANNEL),
    ("c-sending", [(0, OPENED, "sending", "sms", None, 0, True)], "pending", "sms"),
    ("c-retry-later", [(0, OPENED, "pending", "sms", None, 5, True)], "pending", "sms"),
    ("c-undelivered", [(0, OPENED, "undelivered", "sms", None, 0, True)], "failed", "sms"),
    ("c-no-way", [(0, OPENED, "suppressed", None, None, 0, False)], "skipped", NO_CHANNEL),
    ("c-cancelled", [(0, OPENED, "cancelled", None, None, 0, False)], "cancelled", NO_CHANNEL),
    ("c-newest-wins", [(0, OPENED, "cancelled", None, None, 0, False),
                       (1, UPDATED, "failed", "email", None, 0, True)], "failed", "email"),
]  # fmt: skip
UNPLANNED = "c-unplanned"  # joined, no row yet: pending


def _row(iid: int, cid: str, row: Row, now: datetime) -> dict[str, Any]:
    step, message, status, channel, error_code, minutes, attempted = row
    return {
        "dedupe_key": f"incident:{iid}:customer:{cid}:update:{step}", "customer_id": cid,
        "incident_id": iid, "message": message, "stage": "incident", "step": step,
        "fallback": [], "failed_channels": [], "channel": channel, "status": status,
        "error_code": error_code, "not_before": now + timedelta(minutes=minutes),
        "attempts": int(attempted), "attempted_at": now if attempted else None, "payload": {},
        "created_at": now, "updated_at": now,
    }  # fmt: skip


async def _open(rig: Rig) -> int:
    return await Incidents(rig.store, rig.clock, None).open(
        titles=Texts("Paro", (), "--title"), messages=Texts(None), severity=Severity.MAJOR,
        match=["kind=delivery"], estimate=None, by="ana",
    )  # fmt: skip


async def test_each_customer_is_counted_once_in_the_state_of_their_rows(rig: Rig) -> None:
    now = rig.clock.now()
    for cid, *_ in CASES:
        await rig.customer(cid)
    await rig.customer(UNPLANNED)
    iid, other = await _open(rig), await _open(rig)
    async with rig.store.transaction() as conn:
        await conn.execute(
            incident_customers.insert(),
            [{"incident_id": iid, "customer_id": cid, "joined_at": now, "planned": 0}
             for cid in [*(c[0] for c in CASES), UNPLANNED]],
        )  # fmt: skip
        rows = [_row(iid, cid, r, now) for cid, found, _, _ in CASES for r in found]
        rows.append(_row(other, "c-due", (0, OPENED, "sent", "sms", None, 0, True), now))
        await conn.execute(notifications.insert(), rows)
    counts = await rig.store.incident_counts(iid, now)
    assert counts.affected == len(CASES) + 1
    expected = Counter(state for _, _, state, _ in CASES)
    expected["pending"] += 1  # the customer not planned yet
    assert counts.states == {s: expected[s] for s in STATES}
    assert counts.resolved == 1
    by_channel: dict[str, dict[str, int]] = {}
    for _, _, state, channel in CASES:
        per = by_channel.setdefault(channel, dict.fromkeys(STATES, 0))
        per[state] += 1
    assert counts.by_channel == dict(sorted(by_channel.items()))
    other_counts = await rig.store.incident_counts(other, now)
    assert (other_counts.affected, other_counts.states["told"]) == (0, 1)


async def test_deferred_becomes_pending_once_its_time_has_come(rig: Rig) -> None:
    now = rig.clock.now()
    await rig.customer("c-quiet")
    iid = await _open(rig)
    async with rig.store.transaction() as conn:
        await conn.execute(
            incident_customers.insert(),
            [{"incident_id": iid, "customer_id": "c-quiet", "joined_at": now, "planned": 0}],
        )
        quiet: Row = (0, OPENED, "pending", None, None, 120, False)
        await conn.execute(notifications.insert(), [_row(iid, "c-quiet", quiet, now)])
    assert (await rig.store.incident_counts(iid, now)).states["deferred"] == 1
    later = await rig.store.incident_counts(iid, now + timedelta(hours=3))
    assert (later.states["deferred"], later.states["pending"]) == (0, 1)
