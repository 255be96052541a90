"""How long a fan-out takes at the senders' rate limits, and what a WhatsApp tier holds back.

The dispatcher never sends above a channel's rate (``NOTIFIER_RATE_*``: SMS counted in
segments, the others in messages) and the channels send in parallel, so a fan-out takes
as long as its slowest channel. A daily quota (X's) makes whatever is over it wait for the
next day. WhatsApp's messaging tier caps the customers a business may start a
conversation with in 24 hours (a template message outside the customer-service window);
WhatsApp refuses those beyond it, and they fall back to their next channel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from notifier.domain.models import ChannelName

DAY = timedelta(days=1)
# Meta's business-initiated messaging tiers: unique customers a phone number may reach a day.
WHATSAPP_TIERS = (1_000, 10_000, 100_000)


@dataclass(frozen=True, slots=True)
class ChannelRate:
    per_second: float  # SMS: segments; the others: messages
    per_day: int | None = None  # a daily quota (X direct messages); None: none


@dataclass(frozen=True, slots=True)
class ChannelLoad:
    """What a fan-out asks of one channel: messages, and what its rate counts (``cost``)."""

    channel: ChannelName
    messages: int
    cost: int  # SMS: segments; the others: messages
    rate: ChannelRate

    @property
    def duration(self) -> timedelta:
        """How long the channel takes to send it all at its rate."""
        return send_time(self.cost, self.rate)


def send_time(cost: int, rate: ChannelRate) -> timedelta:
    """Return how long ``cost`` units take at ``rate``; past a daily quota, a day per quota.

    The quota's day starts at the first send: with 1,440 a day, 3,000 messages go as
    1,440 now, 1,440 a day later and the last 120 two days later.
    """
    if cost <= 0:
        return timedelta(0)
    if rate.per_day is None or cost <= rate.per_day:
        return timedelta(seconds=cost / rate.per_second)
    days, rest = divmod(cost, rate.per_day)
    if rest == 0:  # the last day sends a whole quota
        days, rest = days - 1, rate.per_day
    return days * DAY + timedelta(seconds=rest / rate.per_second)


def fanout_time(loads: Sequence[ChannelLoad]) -> timedelta:
    """Return the whole fan-out's duration: the channels run in parallel, the slowest rules."""
    return max((load.duration for load in loads), default=timedelta(0))


@dataclass(frozen=True, slots=True)
class TierHold:
    """What one WhatsApp messaging tier does to a fan-out of ``customers``."""

    tier: int  # customers a day
    customers: int  # those it counts: reached with a template, outside the 24 h window
    held_back: int  # beyond the tier in the first 24 hours: refused, they fall back
    days: int  # days the tier would need to reach them all by WhatsApp (0: nobody)


def tier_holds(customers: int, tiers: Sequence[int] = WHATSAPP_TIERS) -> list[TierHold]:
    """Return, for each tier, how many of ``customers`` it holds back and for how many days."""
    return [
        TierHold(tier, customers, max(customers - tier, 0), math.ceil(customers / tier))
        for tier in tiers
    ]
