"""What the daemon would send between two instants if nothing else changed.

The scan's own planning (plan_due, then schedule with the simulated store's next checks,
exactly as engine.planning.scanner does) and the dispatcher's own decide step, stepped over time on
the daemon's tick, with every send assumed to succeed. Nothing is written and nothing is
sent.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from notifier.domain.decide import Claim, Go, Situation, decide
from notifier.domain.forecast import (
    Conditions,
    Fate,
    Forecast,
    Predicted,
    Withheld,
    World,
)
from notifier.domain.models import (
    Customer,
    CustomerId,
    NotificationId,
    NotificationStatus,
    Promise,
    PromiseId,
    PromiseStatus,
)
from notifier.domain.notices import SentLedger
from notifier.domain.outbox import Change, DuePromise, Notification, PromiseChange, Scheduled
from notifier.domain.rules.model import RuleSet
from notifier.domain.scan import plan_due, schedule

# Safety net: a dispatch round that keeps finding work at one instant means a bug here.
MAX_ROUNDS = 100


def simulate(
    world: World, rules: RuleSet, conditions: Conditions, start: datetime, end: datetime
) -> Forecast:
    """Return what would be sent in [start, end], in order, on the daemon's tick from start."""
    run = _Run(world, rules, conditions, start)
    at: datetime | None = start
    while at is not None and at <= end:
        run.scan(at)
        run.dispatch(at)
        at = run.next_tick(at)
    return Forecast(tuple(run.sends), tuple(run.withheld))


@dataclass(slots=True)
class _Row:
    """An outbox row as the simulation moves it along (mutable: it is the loop's state)."""

    notification: Notification
    reasons: list[str]
    existing: bool
    live: bool = True


class _Run:
    """The simulated store: promises, their ledgers, the outbox and the cap ledger."""

    def __init__(
        self, world: World, rules: RuleSet, conditions: Conditions, start: datetime
    ) -> None:
        self.rules = rules
        self.c = conditions
        self.situation = Situation(
            available=conditions.available,
            paused=conditions.paused_channels,
            ops_address=conditions.ops_address,
            cap=conditions.cap,
            mutes=conditions.mutes,
        )
        self.start = start
        # Keyed as the store keys them, which the decide step takes (a copy widens the type).
        self.customers: dict[str, Customer] = {k: v for k, v in world.customers.items()}  # noqa: C416
        self.promises: dict[int, Promise] = {k: v for k, v in world.settled.items()}  # noqa: C416
        self.ledgers: dict[PromiseId, SentLedger] = {}
        self.by_customer: dict[CustomerId, list[PromiseId]] = {}
        self.checks: list[tuple[datetime, PromiseId]] = []
        for d in world.promises:
            p = d.promise
            self.customers.setdefault(p.customer_id, d.customer)
            self.promises[p.id] = p
            self.ledgers[p.id] = d.sent
            self.by_customer.setdefault(p.customer_id, []).append(p.id)
            if p.next_check_at is not None:
                heapq.heappush(self.checks, (p.next_check_at, p.id))
        self.rows: dict[NotificationId, _Row] = {}
        self.keys: set[str] = set()
        self.due: list[tuple[datetime, NotificationId]] = []
        for item in world.pending:
            n = item.notification
            self._add(_Row(n, [item.reason] if item.reason else [], existing=True))
        self.next_id = max((int(i) for i in self.rows), default=0) + 1
        self.sent: dict[str, list[datetime]] = {k: list(v) for k, v in world.sent.items()}
        self.sends: list[Predicted] = []
        self.withheld: list[Withheld] = []

    def _add(self, row: _Row) -> None:
        n = row.notification
        self.rows[n.id] = row
        self.keys.add(n.dedupe_key)
        heapq.heappush(self.due, (n.not_before, n.id))

    def next_tick(self, after: datetime) -> datetime | None:
        """Return the first tick after ``after`` at which something is due, or None."""
        while self.checks and self.promises[self.checks[0][1]].next_check_at != self.checks[0][0]:
            heapq.heappop(self.checks)  # a stale entry: the check moved since
        while self.due and not self._is_waiting(*self.due[0]):
            heapq.heappop(self.due)
        times = [heap[0][0] for heap in (self.checks, self.due) if heap]
        if not times:
            return None
        steps = max(1, -((self.start - min(times)) // self.c.step))
        return max(after + self.c.step, self.start + steps * self.c.step)

    def _is_waiting(self, at: datetime, nid: NotificationId) -> bool:
        row = self.rows[nid]
        return row.live and row.notification.not_before == at

    # The scan: the same steps as engine.planning.scanner.plan_batch, on the simulated store.
    def scan(self, now: datetime) -> None:
        """Look at every promise whose check is due at ``now``."""
        checks: set[tuple[datetime, PromiseId]] = set()
        while self.checks and self.checks[0][0] <= now:
            at, pid = heapq.heappop(self.checks)
            if self.promises[pid].next_check_at == at:
                checks.add((at, pid))
        due = [self._due(pid) for _, pid in sorted(checks)]  # the store reads by next_check_at
        if not due:
            return
        planned = plan_due(due, self.rules, now)
        ask = planned.lookahead(now, self.c.window)
        stored = {} if ask is None else self.next_checks(ask.customer_ids, ask.after, ask.until)
        for s in schedule(planned, stored, self.c.window, now):
            self._schedule(s, now)
        keys: dict[PromiseId | None, list[str]] = {}
        for n in planned.notices:
            keys.setdefault(n.promise_id, []).append(n.dedupe_key)
        for change in planned.changes:
            self._apply(change, now, keys.get(change.promise.id, []))

    def _due(self, pid: PromiseId) -> DuePromise:
        promise = self.promises[pid]
        return DuePromise(promise, self.customers[promise.customer_id], self.ledgers[pid])

    def next_checks(
        self, customer_ids: Sequence[CustomerId], after: datetime, until: datetime
    ) -> dict[CustomerId, list[tuple[PromiseId, datetime]]]:
        """Return, per customer, their promises' checks in (after, until], as the store does.

        Promises in plan error are left out: the scan retries them, it expects no notice.
        """
        found: dict[CustomerId, list[tuple[PromiseId, datetime]]] = {}
        for cid in customer_ids:
            for pid in self.by_customer.get(cid, ()):
                p = self.promises[pid]
                at = p.next_check_at
                if at is not None and after < at <= until and p.plan_error is None:
                    found.setdefault(cid, []).append((pid, at))
        return found

    def _schedule(self, s: Scheduled, now: datetime) -> None:
        n = s.notice
        if n.dedupe_key in self.keys:
            return  # the unique key: it lands once
        row = Notification(
            id=NotificationId(self.next_id), dedupe_key=n.dedupe_key, customer_id=n.customer_id,
            promise_id=n.promise_id, rule_id=n.rule_id, message=n.message, stage=n.stage,
            step=n.step, priority=n.priority, audience=n.audience, channel_choice=n.channel,
            fallback=n.fallback, failed_channels=frozenset(), status=NotificationStatus.PENDING,
            not_before=s.not_before, attempts=0, deadline_version=n.deadline_version,
            quiet_hours=n.quiet_hours, created_at=now,
        )  # fmt: skip
        self.next_id += 1
        self._add(_Row(row, [n.reason, *([s.held] if s.held else [])], existing=False))

    def _apply(self, change: PromiseChange, now: datetime, keys: list[str]) -> None:
        p = self.promises[change.promise.id]
        if change.broken:
            p = replace(p, status=PromiseStatus.BROKEN, status_changed_at=now,
                        times_broken=p.times_broken + 1, updated_at=now)  # fmt: skip
        # As the store writes it: the plan-error state goes with the new check (None clears).
        self.promises[p.id] = replace(
            p, next_check_at=change.next_check_at, plan_error=change.error
        )
        self.ledgers[p.id] = self.ledgers[p.id].with_keys(keys)
        if change.next_check_at is not None:
            heapq.heappush(self.checks, (change.next_check_at, p.id))

    # The dispatcher: the same decide step as engine.delivery.dispatcher.Dispatcher, on these rows.
    def dispatch(self, now: datetime) -> None:
        """Send everything due at ``now``, round after round until nothing is due."""
        for _ in range(MAX_ROUNDS):
            claimed = self._claim(now)
            if not claimed:
                return
            rows = {row.notification.id: row for row in claimed}
            # The cap counts what went out before this round (the dispatcher's batch.sent).
            claim = Claim([row.notification for row in claimed], self.customers,
                          self.promises, self.sent)  # fmt: skip
            decision = decide(claim, self.situation, now)
            for change in decision.changes:
                self._settle(rows[change.id], change, now)
            for go in decision.goes:
                self._sent(go, rows, now)

    def _settle(self, row: _Row, change: Change, now: datetime) -> None:
        """Apply a change the decide step made without a send to the simulated row."""
        event = change.event
        kind = event.type if event is not None else ""
        if kind == "folded":
            return  # the message it is folded into says so
        if change.status is NotificationStatus.PENDING and kind != "held":
            assert change.not_before is not None  # back in the outbox: deferred, muted
            reason = event.reason if event is not None and event.reason else kind
            self._defer(row, change.not_before, f"{reason} until {_utc(change.not_before)}")
            return
        self._withhold(row, now, _OUTCOMES.get(kind, "failed"), (event and event.reason) or kind)

    def _claim(self, now: datetime) -> list[_Row]:
        found: dict[NotificationId, _Row] = {}
        while self.due and self.due[0][0] <= now:
            at, nid = heapq.heappop(self.due)
            row = self.rows[nid]
            if not self._is_waiting(at, nid):
                continue
            rule = row.notification.rule_id
            if rule is not None and rule in self.c.paused_rules:
                self._withhold(row, now, "held", f"rule {rule} paused by ops")
                continue
            found[nid] = row
        return sorted(found.values(), key=lambda r: (r.notification.not_before, r.notification.id))

    def _sent(self, go: Go, rows: dict[NotificationId, _Row], now: datetime) -> None:
        """Record a message the decide step lets go: it is assumed to succeed."""
        primary, send = rows[go.notification.id], go.send
        members = [rows[m.id] for m in go.members]
        n = primary.notification
        for row in (primary, *members):
            row.live = False
            pid = row.notification.promise_id
            if pid is not None and pid in self.ledgers:  # it went out: ``when.told`` sees it
                self.ledgers[pid] = self.ledgers[pid].with_sent([row.notification.dedupe_key])
        # One message, whatever it folds in; escalations to ops are not the customer's.
        if n.audience == "customer" and n.customer_id is not None:
            self.sent.setdefault(n.customer_id, []).append(now)
        reasons = [
            *primary.reasons,
            f"{send.channel}: {send.via}",
            *(f"{s.channel} skipped: {s.reason}" for s in send.skipped),
            *(f"goes with {m.notification.dedupe_key} as one message" for m in members),
        ]
        self.sends.append(Predicted(
            at=now, customer_id=n.customer_id, audience=n.audience, channel=send.channel,
            address=send.address, via=str(send.via), message=go.message, rule_id=n.rule_id,
            promise_id=n.promise_id, dedupe_key=n.dedupe_key,
            notification_id=n.id if primary.existing else None,
            members=tuple(m.notification.dedupe_key for m in members), reasons=tuple(reasons),
        ))  # fmt: skip

    def _defer(self, row: _Row, until: datetime, reason: str) -> None:
        row.notification = replace(row.notification, not_before=until)
        row.reasons.append(reason)
        heapq.heappush(self.due, (until, row.notification.id))

    def _withhold(self, row: _Row, now: datetime, outcome: Fate, reason: str) -> None:
        row.live = False
        n = row.notification
        self.withheld.append(Withheld(
            at=now, customer_id=n.customer_id, rule_id=n.rule_id, promise_id=n.promise_id,
            dedupe_key=n.dedupe_key, notification_id=n.id if row.existing else None,
            outcome=outcome, reason=reason,
        ))  # fmt: skip


_OUTCOMES: dict[str, Fate] = {"held": "held", "suppressed": "suppressed",
                                  "cancelled": "cancelled", "muted": "suppressed"}  # fmt: skip


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"
