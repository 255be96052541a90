"""Which channel a notification goes out on now, when to wait, or why it cannot go at all."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo

from notifier.domain.models import ChannelName, Customer
from notifier.domain.quiet_hours import QuietAction, QuietHours, quiet_until, zone

ChannelChoice: TypeAlias = ChannelName | Literal["last_used"]


class SkipReason(StrEnum):
    OPTED_OUT = "opted out"
    NO_ADDRESS = "no address"
    UNDELIVERABLE = "address undeliverable"
    UNAVAILABLE = "channel unavailable"
    FAILED = "failed for this notification"  # refused, or out of attempts on it


class Via(StrEnum):
    """Why the chosen channel was tried first, for the notification's history."""

    PREFERRED = "preferred channel"
    LAST_USED = "last used channel"
    RULE = "rule channel"
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class Skip:
    channel: ChannelName
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class Send:
    channel: ChannelName
    address: str
    via: Via
    skipped: tuple[Skip, ...] = ()


@dataclass(frozen=True, slots=True)
class Wait:
    until: datetime
    reason: str
    channel: ChannelName  # where it would go once the wait is over, if nothing changes
    skipped: tuple[Skip, ...] = ()


@dataclass(frozen=True, slots=True)
class Suppress:
    reason: str
    skipped: tuple[Skip, ...] = ()


RouteDecision: TypeAlias = Send | Wait | Suppress


def candidates(
    customer: Customer, choice: ChannelChoice, fallback: Sequence[ChannelName]
) -> list[tuple[ChannelName, Via]]:
    """Return the channels to try, in order, each with why it is in the list.

    ``last_used`` takes the customer's explicit preferred channel first, then the last
    used one; a customer who never wrote to us has neither, and the fallback chain
    decides alone (no guess about a channel they never used).
    """
    first: list[tuple[ChannelName, Via]] = []
    if choice != "last_used":
        first.append((choice, Via.RULE))
    elif customer.preferred_channel is not None:
        first.append((customer.preferred_channel, Via.PREFERRED))
    elif customer.last_used_channel is not None:
        first.append((customer.last_used_channel, Via.LAST_USED))
    ordered: list[tuple[ChannelName, Via]] = []
    seen: set[ChannelName] = set()
    for channel, via in [*first, *((c, Via.FALLBACK) for c in fallback)]:
        if channel not in seen:
            seen.add(channel)
            ordered.append((channel, via))
    return ordered


def skip_reason(
    customer: Customer,
    channel: ChannelName,
    available: Set[ChannelName],
    failed: Set[ChannelName],
) -> SkipReason | None:
    """Return why ``channel`` cannot carry this notification, or None when it can."""
    if channel in failed:
        return SkipReason.FAILED
    if not customer.has_consent(channel):
        return SkipReason.OPTED_OUT
    if customer.address(channel) is None:
        return SkipReason.NO_ADDRESS
    if not customer.is_deliverable(channel):
        return SkipReason.UNDELIVERABLE
    # Unavailable last: an opted-out customer is reported as such even when the channel is down.
    if channel not in available:
        return SkipReason.UNAVAILABLE
    return None


def route(
    customer: Customer,
    choice: ChannelChoice,
    fallback: Sequence[ChannelName],
    available: Set[ChannelName],
    failed: Set[ChannelName],
    now: datetime,
    quiet: QuietHours | None = None,
    tz: ZoneInfo | None = None,
) -> RouteDecision:
    """Return Send, Wait (quiet hours in the customer's timezone) or Suppress, with reasons.

    ``tz`` defaults to the customer's own timezone; ``quiet.action`` says whether a message
    in quiet hours waits, is dropped, or goes anyway.
    """
    if customer.forgotten:
        return Suppress("customer forgotten")
    skipped: list[Skip] = []
    for channel, via in candidates(customer, choice, fallback):
        reason = skip_reason(customer, channel, available, failed)
        if reason is not None:
            skipped.append(Skip(channel, reason))
            continue
        address = customer.address(channel)
        assert address is not None  # skip_reason returned None, so there is one
        return _mind_quiet_hours(
            Send(channel, address, via, tuple(skipped)), customer, now, quiet, tz
        )
    if not skipped:
        return Suppress("no channel to try: the rule names none and there is no fallback")
    return Suppress(
        "no channel left: " + "; ".join(f"{s.channel} {s.reason}" for s in skipped), tuple(skipped)
    )


def _mind_quiet_hours(
    send: Send,
    customer: Customer,
    now: datetime,
    quiet: QuietHours | None,
    tz: ZoneInfo | None,
) -> RouteDecision:
    if quiet is None or quiet.action == QuietAction.SEND:
        return send
    until = quiet_until(now, quiet, tz or zone(customer.timezone))
    if until is None:
        return send
    if quiet.action == QuietAction.DROP:
        return Suppress("quiet hours (the rule drops messages then)", send.skipped)
    return Wait(until, "quiet hours", send.channel, send.skipped)
