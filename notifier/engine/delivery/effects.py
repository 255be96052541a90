"""What an outcome means beyond its rows: addresses and consent, a channel down, a throttle.

``domain/consequences.py`` decides the effects; this applies them for the sender. A failure
here is logged and the rows' outcome still written: the provider's answer stands, and the
next answer like it applies the effect again.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from notifier.clock import Clock
from notifier.config import DispatchSettings
from notifier.domain.consequences import (
    ChannelDown,
    Effect,
    MarkUndeliverable,
    RecordOptOut,
    Throttled,
)
from notifier.domain.errors import one_line
from notifier.domain.models import ChannelName
from notifier.domain.ops_notices import channel_down_notice
from notifier.domain.outbox import Scheduled
from notifier.engine.delivery.pauses import Pauses
from notifier.engine.delivery.ports import OutcomeStore, RateLimiter
from notifier.engine.delivery.ratelimit import DEFAULT_SENDER

log = structlog.get_logger("notifier.send")


class Effects:
    """Applies a send's effects: the customer's addresses and consent, pauses, the rate."""

    def __init__(
        self,
        store: OutcomeStore,
        clock: Clock,
        dispatch: DispatchSettings,
        pauses: Pauses,
        limiter: RateLimiter,
    ) -> None:
        self.store = store
        self.clock = clock
        self.dispatch = dispatch
        self.pauses = pauses
        self.limiter = limiter

    async def apply(self, notification_id: int, effects: Sequence[Effect]) -> None:
        """Apply ``effects``; a failure is logged, never raised (the outcome stands)."""
        try:
            await self._apply_all(notification_id, effects)
        except Exception:
            log.exception("dispatch.effects_failed", notification_id=notification_id,
                          effects=[type(e).__name__ for e in effects])  # fmt: skip

    async def _apply_all(self, notification_id: int, effects: Sequence[Effect]) -> None:
        await self.store.apply_effects(
            [e for e in effects if isinstance(e, MarkUndeliverable | RecordOptOut)],
            self.clock.now(),
        )
        for e in effects:
            if isinstance(e, Throttled):
                # Every replica waits it out: the bucket is the cluster's.
                await self.limiter.throttle(e.channel, DEFAULT_SENDER, e.retry_after)
                log.info("channel.throttled", channel=e.channel,
                         retry_after=e.retry_after.total_seconds())  # fmt: skip
            elif isinstance(e, ChannelDown):
                first = e.channel not in self.pauses.down
                await self.pauses.mark_down(e.channel, e.reason)
                log.error("channel.down", channel=e.channel, reason=e.reason)
                if first:
                    await self._alert_ops(e.channel, e.reason)
            elif isinstance(e, RecordOptOut):
                log.info("customer.opted_out", notification_id=notification_id,
                         customer_id=e.customer_id, channel=e.channel)  # fmt: skip

    async def _alert_ops(self, down: ChannelName, reason: str) -> None:
        """Put an alert to ops in the outbox: ``down`` is paused for everyone (logged either way).

        Not when email itself is down: the alert would wait for the channel it is about.
        """
        if down == "email":
            log.warning("channel.down_alert_skipped", channel=down, reason="email is down")
            return
        now = self.clock.now()
        notice = channel_down_notice(down, reason, now, now + self.dispatch.channel_probe)
        try:
            await self.store.enqueue([Scheduled(notice, now)], now)
        except Exception as exc:  # the store is failing: the pause itself is already kept
            log.error("channel.down_alert_failed", channel=down, error=one_line(exc))
