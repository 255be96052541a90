"""What the daemon would send between two instants if nothing else changed.

The scan's and the dispatcher's own pure decisions (plan_promise, hold_for_company,
moot_reason, route, capped_until) stepped over time on the daemon's tick, with every
send assumed to succeed. Nothing is written and nothing is sent.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace
from datetime import datetime

from notifier.domain.dispatch import capped_until, moot_reason
from notifier.domain.forecast import (
    Conditions,
    Forecast,
    Outcome,
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
from notifier.domain.outbox import DuePromise, Notification, PromiseChange, Scheduled
from notifier.domain.routing import Send, Suppress, Via, Wait, route
from notifier.domain.rules.model import RuleSet
from notifier.domain.scan import hold_for_company, plan_promise

CONSOLIDATED = "several_late"  # the message several notices for one customer go out as
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
        self.start = start
        self.customers: dict[CustomerId, Customer] = dict(world.customers)
        self.promises: dict[PromiseId, Promise] = dict(world.settled)
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
        self.sent: dict[CustomerId, list[datetime]] = {k: list(v) for k, v in world.sent.items()}
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

    # The scan: the same steps as engine.scan.scan_batch, on the simulated store.
    def scan(self, now: datetime) -> None:
        """Look at every promise whose check is due at ``now``."""
        checks: set[tuple[datetime, PromiseId]] = set()
        while self.checks and self.checks[0][0] <= now:
            at, pid = heapq.heappop(self.checks)
            if self.promises[pid].next_check_at == at:
                checks.add((at, pid))
        due = [pid for _, pid in sorted(checks)]  # the store reads them by next_check_at
        if not due:
            return
        planned = []
        for pid in due:
            promise = self.promises[pid]
            customer = self.customers[promise.customer_id]
            planned.append(plan_promise(DuePromise(promise, customer, self.ledgers[pid]),
                                        self.rules, now))  # fmt: skip
        notices = [n for _, found in planned for n in found]
        upcoming: dict[CustomerId, list[tuple[PromiseId, datetime]]] = {}
        for cid in {n.customer_id for n in notices}:
            for pid in self.by_customer.get(cid, []):
                check = self.promises[pid].next_check_at
                if check is not None and now < check <= now + self.c.window:
                    upcoming.setdefault(cid, []).append((pid, check))
        for change, _ in planned:
            if notices and change.next_check_at is not None:
                upcoming.setdefault(change.promise.customer_id, []).append(
                    (change.promise.id, change.next_check_at)
                )
        for s in hold_for_company(notices, upcoming, self.c.window, now):
            self._schedule(s, now)
        for change, found in planned:
            self._apply(change, now, [n.dedupe_key for n in found])

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
        self.promises[p.id] = replace(p, next_check_at=change.next_check_at)
        self.ledgers[p.id] = self.ledgers[p.id].with_keys(keys)
        if change.next_check_at is not None:
            heapq.heappush(self.checks, (change.next_check_at, p.id))

    # The dispatcher: the decisions of engine.dispatch.Dispatcher._route and _plan_group.
    def dispatch(self, now: datetime) -> None:
        """Send everything due at ``now``, round after round until nothing is due."""
        for _ in range(MAX_ROUNDS):
            claimed = self._claim(now)
            if not claimed:
                return
            # The cap counts what went out before this round (the dispatcher's batch.sent).
            batch_sent = {cid: list(times) for cid, times in self.sent.items()}
            goes: dict[str, list[tuple[_Row, Send]]] = {}
            for row in claimed:
                verdict = self._route(row, now)
                if isinstance(verdict, Send):
                    n = row.notification
                    cid = n.customer_id
                    key = cid if n.audience == "customer" and cid is not None else f"ops:{n.id}"
                    goes.setdefault(key, []).append((row, verdict))
                elif verdict is not None:
                    self._withhold(row, now, *verdict)
            for group in goes.values():
                self._plan_group(group, batch_sent, now)

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

    def _route(self, row: _Row, now: datetime) -> Send | tuple[Outcome, str] | None:
        n = row.notification
        promise = self.promises.get(n.promise_id) if n.promise_id is not None else None
        moot = moot_reason(n, promise)
        if moot is not None:
            return "cancelled", moot
        if n.audience == "ops":
            if self.c.ops_address is None or "email" not in self.c.available:
                reason = "no way to reach ops: set NOTIFIER_OPS_EMAIL and configure email"
                return "suppressed", reason
            return Send("email", self.c.ops_address, Via.RULE)
        customer = self.customers.get(n.customer_id) if n.customer_id is not None else None
        if customer is None:
            return "cancelled", "the customer is gone"
        decision = route(customer, n.channel_choice, n.fallback, self.c.available,
                         n.failed_channels, now, n.quiet_hours)  # fmt: skip
        if isinstance(decision, Suppress):
            outcome: Outcome = "failed" if n.failed_channels else "suppressed"
            return outcome, decision.reason
        if isinstance(decision, Wait):
            self._defer(row, decision.until, f"{decision.reason} until {_utc(decision.until)}")
            return None
        if decision.channel in self.c.paused_channels:
            return "held", f"channel {decision.channel} paused by ops"
        return decision

    def _plan_group(
        self, group: list[tuple[_Row, Send]], batch_sent: dict[CustomerId, list[datetime]],
        now: datetime,
    ) -> None:  # fmt: skip
        primary, send = group[0]
        n = primary.notification
        cid = n.customer_id
        if n.audience == "customer" and n.priority != "critical" and cid is not None:
            until = capped_until(batch_sent.get(cid, []), self.c.cap, now)
            if until is not None:
                reason = f"frequency cap: {self.c.cap} messages in 24 h, until {_utc(until)}"
                for row, _ in group:
                    self._defer(row, until, reason)
                return
            batch_sent.setdefault(cid, []).append(now)
        members = [row for row, _ in group[1:]]
        for row in (primary, *members):
            row.live = False
        # One message, whatever it folds in; escalations to ops are not the customer's.
        if n.audience == "customer" and cid is not None:
            self.sent.setdefault(cid, []).append(now)
        reasons = [
            *primary.reasons,
            f"{send.channel}: {send.via}",
            *(f"{s.channel} skipped: {s.reason}" for s in send.skipped),
            *(f"goes with {m.notification.dedupe_key} as one message" for m in members),
        ]
        self.sends.append(Predicted(
            at=now, customer_id=n.customer_id, audience=n.audience, channel=send.channel,
            address=send.address, via=str(send.via),
            message=CONSOLIDATED if members else n.message, rule_id=n.rule_id,
            promise_id=n.promise_id, dedupe_key=n.dedupe_key,
            notification_id=n.id if primary.existing else None,
            members=tuple(m.notification.dedupe_key for m in members), reasons=tuple(reasons),
        ))  # fmt: skip

    def _defer(self, row: _Row, until: datetime, reason: str) -> None:
        row.notification = replace(row.notification, not_before=until)
        row.reasons.append(reason)
        heapq.heappush(self.due, (until, row.notification.id))

    def _withhold(self, row: _Row, now: datetime, outcome: Outcome, reason: str) -> None:
        row.live = False
        n = row.notification
        self.withheld.append(Withheld(
            at=now, customer_id=n.customer_id, rule_id=n.rule_id, promise_id=n.promise_id,
            dedupe_key=n.dedupe_key, notification_id=n.id if row.existing else None,
            outcome=outcome, reason=reason,
        ))  # fmt: skip


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"
