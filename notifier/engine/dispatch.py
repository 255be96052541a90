"""The dispatcher: claim due rows with a lease, decide, send concurrently, record the outcome."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from notifier.channels.registry import Channels
from notifier.clock import Clock
from notifier.config import Settings
from notifier.domain.decide import (
    CONSOLIDATED,
    CUSTOMER_GONE,
    Claim,
    Mute,
    Situation,
    decide,
    final,
)
from notifier.domain.dispatch import DAY
from notifier.domain.errors import one_line
from notifier.domain.models import (
    ChannelName,
    Customer,
    JSONValue,
    NotificationId,
    NotificationStatus,
    Promise,
)
from notifier.domain.outbox import (
    COMPOSE_ERROR,
    RENDER_ERROR,
    ROUTE_ERROR,
    Change,
    Event,
    Notification,
    back_in_outbox,
    failed,
)
from notifier.engine.compose import Composer
from notifier.engine.faults import release_batch, render_fault, unfold_unwritten, write_batch
from notifier.engine.health import Health
from notifier.engine.pauses import Pauses
from notifier.engine.sending import Attempt, Sender
from notifier.observability import Metrics
from notifier.store.store import Store
from notifier.templates import ops_context
from notifier.templates.render import TemplateError

log = structlog.get_logger("notifier.dispatch")
OPS_TIMELINE = 30  # lines of each customer's timeline in an ops message: context, not a dump


@dataclass
class _Batch:
    """What one claim needs to decide: the rows, their customers and promises."""

    claimed: list[Notification]
    customers: dict[str, Customer]
    promises: dict[int, Promise]
    sent: dict[str, list[datetime]]
    unreadable: dict[str, str] = field(default_factory=dict)  # customer id: why
    unreadable_promises: dict[int, str] = field(default_factory=dict)  # promise id: why
    changes: list[Change] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)


class Dispatcher:
    """Sends what the outbox holds; never more than ``dispatch_concurrency`` at once."""

    def __init__(
        self,
        store: Store,
        channels: Channels,
        composer: Composer,
        clock: Clock,
        settings: Settings,
        *,
        owner: str | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        health: Health | None = None,
        mutes: tuple[Mute, ...] = (),
    ) -> None:
        self.store = store
        self.channels = channels
        self.composer = composer
        self.clock = clock
        self.settings = settings
        self.owner = owner or f"notifier-{uuid.uuid4().hex[:12]}"
        self.metrics = metrics or Metrics()
        self.health = health or Health.from_settings(settings, self.metrics)
        self.pauses = Pauses(store, clock, settings)
        self.sender = Sender(
            store, channels, clock, settings, self.pauses, rng or random.Random(), self.metrics,
            self.health,
        )  # fmt: skip
        self.mutes = mutes  # what holds individual notices back (a crisis, later)
        self.wakeup = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now (the scan or the API added rows)."""
        self.wakeup.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Dispatch until ``stopping`` is set; idle, wait for a wake-up or a second."""
        writer = asyncio.create_task(self.sender.write_results(stopping))
        try:
            while not stopping.is_set():
                try:
                    done = await self.dispatch_once()
                    self.health.claim_done(self.clock.now())
                except Exception as exc:  # a store hiccup must not stop the daemon: log, retry
                    log.exception("dispatch.error")
                    self.health.claim_done(self.clock.now(), exc)
                    done = 0
                if done == 0:
                    self.wakeup.clear()
                    waiters = [asyncio.ensure_future(self.wakeup.wait()),
                               asyncio.ensure_future(stopping.wait())]  # fmt: skip
                    await asyncio.wait(waiters, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                    for w in waiters:
                        w.cancel()
        finally:
            await self.sender.drain(self.settings.shutdown_grace)
            stopping.set()
            await writer
            await self.store.release_all(self.owner, self.clock.now())

    async def dispatch_until_idle(self, max_rounds: int = 1000) -> int:
        """Dispatch and wait for the outcomes until nothing is due; return rows claimed."""
        total = 0
        for _ in range(max_rounds):
            claimed = await self.dispatch_once()
            await self.sender.flush()
            total += claimed
            if claimed == 0:
                break
        return total

    async def dispatch_once(self) -> int:
        """Claim one batch of due rows and start their sends; return how many were claimed."""
        # Claim in batches: claiming each time one slot frees costs a claim, a load and a
        # write per notification, so wait until a quarter of the slots are free.
        s = self.settings
        free = s.dispatch_concurrency - self.sender.in_flight
        if free < max(1, min(s.dispatch_batch_size, s.dispatch_concurrency) // 4):
            await self.sender.slot_freed()
            return 1
        now = self.clock.now()
        await self.pauses.refresh(now)
        claimed = await self.store.claim(
            now,
            self.owner,
            self.settings.lease,
            min(self.settings.dispatch_batch_size, free),
            sorted(self.pauses.rules),
        )
        if not claimed:
            return 0
        if self.pauses.channels:  # a resume may have released these rows a moment ago
            await self.pauses.refresh(now, force=True)
        try:
            with self.metrics.dispatch_seconds.time():
                batch = await self._load(claimed, now)
                self._decide(batch, now)
                await self._render(batch, now)
                changes = batch.changes + [a.change for a in batch.attempts]
                batch.attempts = await write_batch(
                    self.store, changes, batch.attempts, now, self.metrics
                )
        except Exception as exc:  # no row of this batch may stay leased and ``sending``
            await release_batch(self.store, claimed, now, exc)
            raise
        for attempt in batch.attempts:
            self.sender.start(attempt)
        self._count_decisions(batch)
        return len(claimed)

    def _count_decisions(self, batch: _Batch) -> None:
        """Count what was decided without a send: cancelled, suppressed, deferred, held."""
        rules = {n.id: n.rule_id or "-" for n in batch.claimed}
        for change in batch.changes:
            if change.event is None or change.event.type == "folded":
                continue
            channel = change.event.channel or "-"
            rule = rules.get(change.id, "-")
            self.metrics.notifications.labels(channel, rule, change.event.type).inc()

    async def _load(self, claimed: list[Notification], now: datetime) -> _Batch:
        customer_ids = list({n.customer_id for n in claimed if n.customer_id is not None})
        promise_ids = [n.promise_id for n in claimed if n.promise_id is not None]
        unreadable: dict[str, str] = {}
        unreadable_promises: dict[int, str] = {}
        return _Batch(
            claimed,
            await self.store.get_customers(customer_ids, unreadable),
            await self.store.get_promises(promise_ids, unreadable_promises),
            await self.store.sent_since(customer_ids, now - DAY),
            unreadable,
            unreadable_promises,
        )

    def _decide(self, batch: _Batch, now: datetime) -> None:
        """Run the decide step on the batch; log and count the rows that failed in it."""
        claim = Claim(
            batch.claimed, batch.customers, batch.promises, batch.sent,
            self.sender.unsettled, batch.unreadable, batch.unreadable_promises,
        )  # fmt: skip
        situation = Situation(
            available=self.channels.available() - self.pauses.down,
            paused=self.pauses.channels,
            ops_address=self.settings.ops_email,
            cap=self.settings.frequency_cap,
            mutes=self.mutes,
        )
        decision = decide(claim, situation, now)
        for fault in decision.faults:
            if fault.reason == ROUTE_ERROR:
                n = fault.notification
                log.warning("dispatch.row_failed", notification_id=n.id, reason=fault.reason,
                            error=fault.text, exc_info=fault.error)  # fmt: skip
            self.metrics.dispatch_errors.labels(fault.reason).inc()
        batch.changes.extend(decision.changes)
        batch.attempts.extend(
            Attempt(g.notification, g.send, g.members, Change(g.notification.id))
            for g in decision.goes
        )

    def _fault(
        self,
        n: Notification,
        reason: str,
        text: str,
        exc: BaseException,
        channel: ChannelName | None = None,
    ) -> Change:
        """Return the change that fails ``n`` alone, logged and counted."""
        # A value a template cannot render is the row's problem, not a bug: no traceback.
        log.warning("dispatch.row_failed", notification_id=n.id, reason=reason, error=text,
                    exc_info=reason != RENDER_ERROR)  # fmt: skip
        if reason == RENDER_ERROR:
            self.metrics.render_errors.labels(n.message).inc()
        else:
            self.metrics.dispatch_errors.labels(reason).inc()
        return failed(n.id, reason, text, channel)

    async def _render(self, batch: _Batch, now: datetime) -> None:
        ready: list[Attempt] = []
        for a in batch.attempts:
            n, send = a.notification, a.route
            customer = batch.customers.get(n.customer_id) if n.customer_id is not None else None
            if customer is None and n.customer_id is not None:  # erased meanwhile (escalation)
                unfold_unwritten(batch.changes, a, now)
                batch.changes.append(
                    final(n, NotificationStatus.CANCELLED, "cancelled", CUSTOMER_GONE)
                )
                continue
            promise = batch.promises.get(n.promise_id) if n.promise_id is not None else None
            others = [batch.promises[m.promise_id] for m in a.members
                      if m.promise_id is not None and m.promise_id in batch.promises]  # fmt: skip
            message = CONSOLIDATED if a.members else n.message
            to_ops = n.audience == "ops"
            timeline = (
                await self.store.timeline(n.customer_id)
                if to_ops and n.customer_id is not None
                else []
            )
            ops = await self._ops_values(n) if to_ops else None
            template = self.composer.template_path(n, message, send.channel, customer)
            try:
                rendered = await self.composer.render(
                    n, message, send.channel, customer, promise, others, now, timeline, ops
                )
            except Exception as exc:
                if isinstance(exc, TemplateError) and template is None:
                    # No template for this channel in any of the customer's locales: the
                    # next channel may have one. Any other error would recur there.
                    unfold_unwritten(batch.changes, a, now)
                    event = Event("failed_channel", str(exc), send.channel)
                    batch.changes.append(
                        back_in_outbox(n.id, now, event, fail_channel=send.channel)
                    )
                    continue
                if a.members:  # one of the folded promises may be the culprit: go alone
                    unfold_unwritten(batch.changes, a, now)
                    batch.attempts.append(Attempt(n, send, (), a.change))  # later in this loop
                    continue
                batch.changes.append(
                    self._fault(n, RENDER_ERROR, render_fault(exc, template), exc, send.channel)
                )
                continue
            try:
                outbound = self.composer.outbound(
                    n, rendered, send.channel, send.address, customer, now
                )
            except Exception as exc:
                unfold_unwritten(batch.changes, a, now)
                batch.changes.append(
                    self._fault(n, COMPOSE_ERROR, one_line(exc), exc, send.channel)
                )
                continue
            members: list[JSONValue] = [int(m.id) for m in a.members]
            skipped: dict[str, JSONValue] = {k.channel: str(k.reason) for k in send.skipped}
            detail: dict[str, JSONValue] = {"via": str(send.via), "message": message,
                                            "members": members, "skipped": skipped}  # fmt: skip
            change = Change(
                n.id, Event("attempt", f"attempt {n.attempts + 1}", send.channel, detail),
                channel=send.channel, address=send.address, subject=rendered.subject,
                body=rendered.text, message=message, attempted_at=now, count_attempt=True,
                members=_members(a),
            )  # fmt: skip
            ready.append(Attempt(n, send, a.members, change, outbound, rendered.sms))
        batch.attempts = ready

    async def _ops_values(self, n: Notification) -> dict[str, object]:
        """Return what an ops template reads: the row's values, the customers' timelines."""
        named = n.data.get("customers")
        found = named if isinstance(named, list) else []
        ids = [str(c["id"]) for c in found if isinstance(c, dict) and "id" in c]
        timelines = {cid: await self.store.timeline(cid, limit=OPS_TIMELINE) for cid in ids}
        return ops_context(n.data, timelines)


def _members(a: Attempt) -> tuple[NotificationId, ...] | None:
    """Return the members to record on the attempt; None when the row has none either way.

    Writing members reads and rewrites the row's payload: a plain send need not pay for it.
    """
    if not a.members and not a.notification.members:
        return None
    return tuple(m.id for m in a.members)
