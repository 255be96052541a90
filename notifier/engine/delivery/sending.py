"""Sends in flight: rate-limited, bounded, and their outcomes written back in batches."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from notifier.channels.base import OutboundMessage, SendError
from notifier.channels.registry import Channels
from notifier.clock import Clock
from notifier.config import DispatchSettings
from notifier.domain.consequences import AfterSend, after_send, put_back
from notifier.domain.errors import one_line
from notifier.domain.outbox import SEND_ERROR, Change, Event, Notification
from notifier.domain.outcomes import Outcome, accepted, unexpected
from notifier.domain.pacing import Departure
from notifier.domain.routing import Send
from notifier.engine.delivery.attempt_writes import AttemptWrites
from notifier.engine.delivery.effects import Effects
from notifier.engine.delivery.pauses import Pauses
from notifier.engine.delivery.ports import OutcomeStore, RateLimiter
from notifier.engine.delivery.ratelimit import DEFAULT_SENDER, ClusterLimiter, rates
from notifier.engine.monitor import Health
from notifier.observability import Metrics
from notifier.templates.segments import SegmentInfo

log = structlog.get_logger("notifier.send")
FLUSH_EVERY = 0.02  # seconds: outcomes are written in batches this often
QUOTA_RETRY = timedelta(minutes=1)  # a row deferred for a spent quota waits at least this
STORE_RETRY = timedelta(seconds=5)  # a row put back because the store failed, this long
# A send stopped while its attempt was being written waits this long for the write to
# end before giving the attempt back (a write still unanswered then: recovery's).
ATTEMPT_SETTLE = 0.5  # seconds
# The attempt write starts this long, plus twice a recent write's time, before its slot:
# a write that overruns into the fence loses the slot (and 1% of the rate per 1% lost).
WRITE_AHEAD = 0.02  # seconds


@dataclass(frozen=True, slots=True)
class Attempt:
    notification: Notification
    route: Send
    members: tuple[Notification, ...]
    change: Change  # the attempt, committed once the limiter grants the send
    outbound: OutboundMessage | None = None
    sms: SegmentInfo | None = None


class Sender:
    def __init__(
        self,
        store: OutcomeStore,
        channels: Channels,
        clock: Clock,
        dispatch: DispatchSettings,
        pauses: Pauses,
        rng: random.Random,
        metrics: Metrics,
        health: Health,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock
        self.dispatch = dispatch
        self.pauses = pauses
        self.rng = rng
        self.metrics = metrics
        self.health = health
        self.attempts = AttemptWrites(store, clock, metrics)
        self.limiter: RateLimiter = limiter or ClusterLimiter(
            store, rates(dispatch.rates), lead=self.attempts.lead
        )
        self.effects = Effects(store, clock, dispatch, pauses, self.limiter)
        # Sends waiting for the limiter, by primary id: a shutdown stops them at once.
        self._waiting: dict[int, asyncio.Task[None]] = {}
        # Sends whose attempt is written (or being written) but whose request has not left.
        self._poised: set[int] = set()
        self.lost_slots = 0  # slots given up at the fence: their sends had woken too late
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids: dict[asyncio.Task[None], list[int]] = {}
        self._results: list[Change] = []
        self._writing: list[Change] = []  # taken from _results, being written now
        self._has_results = asyncio.Event()
        self.on_written: Callable[[], None] = lambda: None  # outcomes written (the dispatcher's)
        self._freed = asyncio.Event()
        # Customers with a send whose outcome is not written yet: the store cannot count
        # it for the frequency cap, so the dispatcher asks here.
        self.unsettled: Counter[str] = Counter()
        self._unsettled_ids: dict[int, str] = {}

    @property
    def in_flight(self) -> int:
        """How many sends are under way."""
        return len(self._tasks)

    @property
    def in_flight_ids(self) -> list[int]:
        """The notifications being sent now (their folded members included)."""
        return [i for ids in self._ids.values() for i in ids]

    @property
    def held_ids(self) -> set[int]:
        """The rows this process still holds: being sent, or their outcome not written yet.

        Recovery leaves these alone; any other row this process leased is an orphan.
        """
        held = set(self.in_flight_ids)
        held.update(c.id for c in self._results)
        held.update(c.id for c in self._writing)
        return held

    @property
    def unwritten(self) -> int:
        """How many outcomes wait to be written."""
        return len(self._results) + len(self._writing)

    def start(self, attempt: Attempt) -> None:
        """Send ``attempt`` in the background."""
        task = asyncio.create_task(self._send(attempt))
        self._tasks.add(task)
        self._ids[task] = [attempt.notification.id, *(m.id for m in attempt.members)]
        customer = attempt.notification.customer_id
        if customer is not None:  # ops alerts count against nobody's cap
            self._unsettled_ids[attempt.notification.id] = customer
            self.unsettled[customer] += 1
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._ids.pop(task, None)
        self._freed.set()

    async def slot_freed(self) -> None:
        """Wait until a send finishes."""
        self._freed.clear()
        if self._tasks:
            await self._freed.wait()

    async def drain(self, grace: timedelta) -> None:
        """Put back the sends that have not left; let those in flight finish within ``grace``.

        A send waiting for the limiter goes back to the outbox at once, its attempt given
        back if it was written (a new slot after a missed one): nothing counted. One
        waiting for its slot may leave within ``grace``; still waiting then, it goes back
        the same way. Only one whose request left and is unanswered after ``grace`` stays
        leased and ``sending``: recovery asks the provider before sending again.
        """
        waiting = list(self._waiting.values())
        for task in waiting:
            task.cancel()
        if waiting:
            await asyncio.wait(waiting)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace.total_seconds())
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def flush(self) -> None:
        """Wait for every send in flight and write all outcomes now."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        batch, self._results = self._results, []
        if batch:
            await self.store.apply_changes(batch, self.clock.now())
            self._settled(batch)

    def _settled(self, written: list[Change]) -> None:
        for change in written:
            customer = self._unsettled_ids.pop(change.id, None)
            if customer is not None:
                self.unsettled[customer] -= 1
                if self.unsettled[customer] <= 0:
                    del self.unsettled[customer]

    async def write_results(self, stopping: asyncio.Event) -> None:
        """Write outcomes in batches until stopped and nothing is left to write."""
        while not (stopping.is_set() and not self._tasks and not self._results):
            if not self._results:
                self._has_results.clear()
                try:
                    await asyncio.wait_for(self._has_results.wait(), timeout=0.25)
                except TimeoutError:
                    continue
            await asyncio.sleep(FLUSH_EVERY)
            batch, self._results = self._results, []
            self._writing = batch
            try:
                await self.store.apply_changes(batch, self.clock.now())
                self._settled(batch)
                self.health.write_done(self.clock.now())
                self.on_written()
                continue
            except asyncio.CancelledError:  # shutdown ran out of time: still unwritten
                self._results[:0] = batch
                raise
            except Exception as exc:  # keep the outcomes and try again: losing them resends
                log.exception("dispatch.write_failed", count=len(batch))
                self.health.write_done(self.clock.now(), exc)
                self._results[:0] = batch
            finally:
                self._writing = []
            await asyncio.sleep(1.0)

    async def _send(self, a: Attempt) -> None:
        try:
            after = await self._attempt(a)
            if after is None:  # its attempt could not be written: failed alone, not sent
                self._settled([Change(a.notification.id)])
                return
        except asyncio.CancelledError:
            waiting = self._waiting.pop(a.notification.id, None) is not None
            if a.notification.id in self._poised:  # attempted, but the request never left
                await self.attempts.settled(ATTEMPT_SETTLE)  # after the attempt's write
                self._poised.discard(a.notification.id)
                self._results.extend(self._given_back(a, "stopped before the request left"))
                self._has_results.set()
            elif waiting:  # never attempted
                self._results.extend(self._released(a, "stopped before the send was granted"))
                self._has_results.set()
            raise
        except Exception as exc:  # an adapter bug: this row fails alone, loudly
            # Not retried: the provider may have taken the message before the error, and
            # a resend would reach the customer twice.
            log.exception("dispatch.unexpected", notification_id=a.notification.id)
            self.metrics.dispatch_errors.labels(SEND_ERROR).inc()
            after = self._decide(a, unexpected(exc))
        await self.effects.apply(a.notification.id, after.effects)
        self._count(a, after.changes[0])
        self._results.extend(after.changes)
        self._has_results.set()

    def _released(self, a: Attempt, reason: str, later: timedelta = timedelta(0)) -> list[Change]:
        """Put ``a`` back in the outbox unattempted: due again at once, or ``later``."""
        now = self.clock.now()
        return put_back(a.notification, a.members, now + later, Event("released", reason), now)

    def _given_back(self, a: Attempt, reason: str, at: datetime | None = None) -> list[Change]:
        """Put ``a`` back with its attempt undone (written, never left): due ``at`` or now."""
        now = self.clock.now()
        event = Event("released", f"{reason}; not counted as an attempt", a.route.channel)
        first, *rest = put_back(a.notification, a.members, at or now, event, now)
        undone = replace(first, attempts=a.notification.attempts, unattempted=True)
        return [undone, *rest]

    async def _attempt(self, a: Attempt) -> AfterSend | None:
        """Send ``a`` unless its channel cannot take it now; return what follows.

        The attempt is written only once the limiter grants the send (attempt_writes.py),
        and the request leaves within its grant's ``Departure`` or not at all: a send
        that missed it gives the slot up and takes a new one (still one attempt). None:
        the attempt write failed for this row alone, which is ``failed`` already, or the
        row's lease was lost to another replica (nothing sent, the row is theirs).
        """
        n, channel_name, members = a.notification, a.route.channel, a.members
        channel = self.channels.get(channel_name)
        now = self.clock.now()
        if channel is None or a.outbound is None:
            event = Event("retry", f"channel {channel_name} unavailable", channel_name)
            return AfterSend(tuple(put_back(n, members, now, event, now)))
        cost = float(a.sms.segments) if a.sms else 1.0
        granted = await self._grant(a, cost)
        if not isinstance(granted, Departure):
            return granted
        # The attempt is written shortly before the slot, not when the slot was given: a
        # crash between the two leaves as few rows attempted but never sent as it can.
        self._waiting[n.id] = asyncio.current_task()  # type: ignore[assignment]
        await _until(granted.earliest - WRITE_AHEAD - 2 * self.attempts.lead())
        self._waiting.pop(n.id, None)
        self._poised.add(n.id)
        try:
            if not await self.attempts.write(a):
                self._poised.discard(n.id)
                return None
        except Exception as exc:  # the store is down: not attempted, back for later
            self._poised.discard(n.id)
            reason = f"attempt not written: {one_line(exc)}"
            return AfterSend(tuple(self._released(a, reason, STORE_RETRY)))
        while not await self._fence(granted, cost):
            self.lost_slots += 1
            self.metrics.lost_slots.labels(channel_name).inc()
            granted = await self._grant(a, cost)
            if not isinstance(granted, Departure):
                self._poised.discard(n.id)
                return granted
        self._poised.discard(n.id)  # leaving: from here on it may have been sent
        try:
            receipt = await channel.send(a.outbound)
        except SendError as exc:
            return self._decide(a, exc.outcome)
        return self._decide(a, accepted(receipt.provider_id, receipt.status))

    async def _grant(self, a: Attempt, cost: float) -> Departure | AfterSend:
        """Ask the limiter for ``a``'s slot; or what follows when it cannot have one now.

        A send whose attempt is already written (a slot missed) gives its attempt back.
        """
        n, channel = a.notification, a.route.channel
        attempted = n.id in self._poised
        self._waiting[n.id] = asyncio.current_task()  # type: ignore[assignment]
        try:  # cancelled (a shutdown), it stays in _waiting for _send to put back
            granted = await self.limiter.acquire(channel, DEFAULT_SENDER, cost)
        except Exception as exc:  # the rate store failed: not attempted, back for later
            self._waiting.pop(n.id, None)
            log.warning("dispatch.limiter_failed", channel=channel, error=one_line(exc))
            reason = f"rate limiter: {one_line(exc)}"
            if attempted:
                later = self.clock.now() + STORE_RETRY
                return AfterSend(tuple(self._given_back(a, reason, later)))
            return AfterSend(tuple(self._released(a, reason, STORE_RETRY)))
        self._waiting.pop(n.id, None)
        if isinstance(granted, Departure):
            return granted
        now = self.clock.now()  # the quota's day is UTC's; a test clock may be ahead of it
        until = max(granted, now + QUOTA_RETRY)
        if attempted:
            return AfterSend(tuple(self._given_back(a, f"{channel} daily quota reached", until)))
        event = Event("deferred", f"{channel} daily quota reached", channel)
        return AfterSend(tuple(put_back(n, a.members, until, event, now)))

    async def _fence(self, departure: Departure, cost: float) -> bool:
        """Wait for the slot; True: the request may leave now, False: it missed its fence.

        ``cost`` is the request's (SMS segments): what leaves now, for whoever watches.
        """
        await _until(departure.earliest)  # never before the slot
        return time.time() <= departure.latest

    def _decide(self, a: Attempt, outcome: Outcome) -> AfterSend:
        return after_send(
            a.notification, a.route, a.members, outcome, self.clock.now(),
            max_attempts=self.dispatch.max_attempts, rng=self.rng,
        )  # fmt: skip

    def _count(self, a: Attempt, change: Change) -> None:
        outcome = change.event.type if change.event else "unknown"
        rule = a.notification.rule_id or "-"
        self.metrics.notifications.labels(a.route.channel, rule, outcome).inc()
        if outcome in ("retry", "throttled", "failed_channel", "channel_down"):
            code = change.error_code or "-"
            self.metrics.provider_errors.labels(a.route.channel, outcome, code).inc()


async def _until(instant: float) -> None:
    """Sleep until the wall clock reads ``instant`` (an event loop may wake a sleeper early)."""
    while (wait := instant - time.time()) > 0:  # noqa: ASYNC110  # the clock, not an event
        await asyncio.sleep(wait)
