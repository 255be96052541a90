"""After a crash: resolve rows left ``sending``, never blindly resend.

Email goes again with the same Message-ID (receivers drop the duplicate); SMS and
WhatsApp are first looked up at Twilio and only resent if Twilio never got them; X has
no lookup, so those become ``unknown`` unless NOTIFIER_RESEND_UNKNOWN is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import structlog

from notifier.channels.base import Receipt, SendError
from notifier.channels.registry import Channels
from notifier.config import DispatchSettings
from notifier.domain.errors import one_line
from notifier.domain.models import ChannelName, NotificationStatus
from notifier.domain.ops_notices import lookup_failed_notice
from notifier.domain.outbox import (
    LOOKUP_FAILED,
    Change,
    Event,
    Notification,
    Scheduled,
    back_in_outbox,
)
from notifier.domain.outcomes import Reason
from notifier.engine.delivery.ports import RecoveryStore

log = structlog.get_logger("notifier.recovery")
# Clocks drift and Twilio stamps date_created in whole seconds: look a little before the attempt.
LOOKUP_SLACK = timedelta(minutes=2)
# Look-ups are round trips to the provider: one after another, 500 of them outlast the
# lease this job also renews. This many run side by side.
LOOKUPS = 16
# A lookup that fails (Twilio errors, times out) is asked again after a backoff that
# doubles from LOOKUP_BACKOFF up to LOOKUP_BACKOFF_MAX; after LOOKUP_TRIES failures (about
# a quarter of an hour) the row is ``unknown`` and ops get an alert. A 429 is throttling:
# it waits for Retry-After (or the first backoff) and does not count.
LOOKUP_TRIES = 6
LOOKUP_BACKOFF = timedelta(seconds=30)
LOOKUP_BACKOFF_MAX = timedelta(minutes=10)


LOOKED_UP: frozenset[ChannelName] = frozenset({"sms", "whatsapp"})


@runtime_checkable
class Lookup(Protocol):
    async def find_sent(self, to: str, since: datetime, body: str) -> Receipt | None: ...


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    resent: int = 0
    found: int = 0
    unknown: int = 0
    deferred: int = 0  # the lookup failed or was throttled: asked again later


async def recover(
    store: RecoveryStore,
    channels: Channels,
    dispatch: DispatchSettings,
    owner: str,
    now: datetime,
    *,
    held: Collection[int] | None = None,
) -> RecoveryReport:
    """Resolve every row whose lease ran out in another (dead) process.

    With ``held`` (what ``owner`` still works on), ``owner``'s own other expired rows too:
    a batch dropped between its claim and its attempt's write is recovered once its lease
    runs out, without a restart.
    """
    expired = await store.expired_leases(now, owner, limit=500, held=held)
    if not expired:
        return RecoveryReport()
    taken = set(await store.adopt([n.id for n in expired], now, owner, dispatch.lease))
    changes: list[Change] = []
    resent = found = unknown = deferred = 0
    by_id = {n.id: n for n in expired}
    # Skipped: rows another process took, and rows that follow the one they were folded into.
    mine = [n for n in expired if n.id in taken and n.folded_into is None]
    gate = asyncio.Semaphore(LOOKUPS)

    failures = await store.lookup_failures([n.id for n in mine if n.channel in LOOKED_UP])
    gave_up: dict[ChannelName, list[int]] = {}

    async def resolve(n: Notification) -> Change:
        async with gate:
            change = await _resolve(n, channels, dispatch, failures.get(n.id, 0), now)
        if change.status is NotificationStatus.UNKNOWN and n.channel in LOOKED_UP:
            gave_up.setdefault(n.channel, []).append(n.id)
        return change

    resolved = await asyncio.gather(*(resolve(n) for n in mine))
    for n, change in zip(mine, resolved, strict=True):
        members = [by_id[m] for m in n.members if m in by_id]
        changes.append(change)
        changes.extend(_follow(change, m) for m in members)
        if change.status is NotificationStatus.SENT:
            found += 1
        elif change.status is NotificationStatus.UNKNOWN:
            unknown += 1
        elif change.status is None:
            deferred += 1
        else:
            resent += 1
    # Members whose primary is not among the expired rows go back on their own.
    for n in expired:
        if n.folded_into is not None and n.folded_into not in by_id and n.id in taken:
            changes.append(_again(n, "the message it was folded into is gone", now))
    await store.apply_changes(changes, now)
    for channel, ids in gave_up.items():
        await _alert_ops(store, channel, ids, changes, now)
    log.warning("recovery.done", resent=resent, found=found, unknown=unknown, deferred=deferred)
    return RecoveryReport(resent, found, unknown, deferred)


async def _resolve(
    n: Notification, channels: Channels, dispatch: DispatchSettings, failed: int, now: datetime
) -> Change:
    if n.channel is None or n.attempted_at is None or n.address is None:
        return _again(n, "claimed but never attempted", None)
    if n.channel == "email":
        return _again(n, "resending with the same Message-ID", None)
    if n.channel == "x":
        if dispatch.resend_unknown:
            return _again(n, "X cannot be asked; resending (NOTIFIER_RESEND_UNKNOWN)", None)
        reason = "the process died during the send and X offers no lookup"
        return Change(n.id, Event("unknown", reason, "x"), NotificationStatus.UNKNOWN,
                      error=reason, release=True)  # fmt: skip
    channel = channels.get(n.channel)
    if not isinstance(channel, Lookup):
        return _again(n, f"{n.channel} cannot be asked; resending", None)
    try:
        receipt = await channel.find_sent(n.address, n.attempted_at - LOOKUP_SLACK, n.body or "")
    except SendError as exc:  # the row stays sending, unleased, until its backoff is over
        return _lookup_failed(n, n.channel, exc, failed, now)
    if receipt is None:
        return _again(n, f"{n.channel}: the provider never got it; resending", None)
    detail = {"provider_id": receipt.provider_id, "status": receipt.status}
    return Change(
        n.id, Event("sent", "found at the provider after a crash", n.channel, detail),
        NotificationStatus.SENT, provider_id=receipt.provider_id, sent_at=n.attempted_at,
        release=True,
    )  # fmt: skip


def _lookup_failed(
    n: Notification, channel: ChannelName, exc: SendError, failed: int, now: datetime
) -> Change:
    """Ask again after a backoff; after LOOKUP_TRIES failures, ``unknown``. 429s do not count."""
    outcome = exc.outcome
    if outcome.reason is Reason.RATE_LIMITED:
        wait = outcome.retry_after or LOOKUP_BACKOFF
        log.info("recovery.lookup_throttled", notification_id=n.id, wait_s=wait.total_seconds())
        return Change(n.id, hold_until=now + wait)
    failed += 1
    log.warning("recovery.lookup_failed", notification_id=n.id, failures=failed, error=str(exc))
    if failed >= LOOKUP_TRIES:
        reason = f"the lookup at the provider failed {failed} times: {exc}"
        return Change(n.id, Event("unknown", reason, channel, {"lookup_failures": failed}),
                      NotificationStatus.UNKNOWN, error=reason, release=True)  # fmt: skip
    wait = min(LOOKUP_BACKOFF * 2 ** (failed - 1), LOOKUP_BACKOFF_MAX)
    detail = {"lookup_failures": failed, "next_lookup": (now + wait).isoformat()}
    return Change(n.id, Event(LOOKUP_FAILED, str(exc), channel, detail), hold_until=now + wait)


async def _alert_ops(
    store: RecoveryStore, channel: ChannelName, ids: list[int], changes: list[Change],
    now: datetime,
) -> None:  # fmt: skip
    """Tell ops which rows became ``unknown`` because the provider could not be asked."""
    reason = next((c.error for c in changes if c.id in ids and c.error), "") or ""
    notice = lookup_failed_notice(channel, sorted(ids), LOOKUP_TRIES, reason, now)
    try:
        await store.enqueue([Scheduled(notice, now)], now)
    except Exception as exc:  # the rows are marked; the log says it too
        log.error("recovery.lookup_alert_failed", ids=ids, error=one_line(exc))


def _again(n: Notification, reason: str, now: datetime | None) -> Change:
    return back_in_outbox(n.id, now or n.not_before, Event("recovered", reason, n.channel))


def _follow(primary: Change, member: Notification) -> Change:
    """A folded row shares its message's fate: sent, waiting or back in the outbox with it.

    While its message's lookup waits, so does it: unfolded, it would go out on its own
    and reach the customer twice if the message did arrive.
    """
    if primary.status is None:
        return Change(member.id, hold_until=primary.hold_until)
    if primary.status in (NotificationStatus.SENT, NotificationStatus.UNKNOWN):
        return Change(member.id, Event(primary.status.value, f"inside notification {primary.id}"),
                      primary.status, provider_id=primary.provider_id,
                      sent_at=primary.sent_at, release=True)  # fmt: skip
    reason = f"notification {primary.id} was not confirmed; back in the outbox"
    return back_in_outbox(member.id, member.not_before, Event("unfolded", reason), unfold=True)
