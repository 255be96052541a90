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
from notifier.domain.models import NotificationStatus
from notifier.domain.outbox import Change, Event, Notification, back_in_outbox
from notifier.engine.delivery.ports import RecoveryStore

log = structlog.get_logger("notifier.recovery")
# Clocks drift and Twilio stamps date_created in whole seconds: look a little before the attempt.
LOOKUP_SLACK = timedelta(minutes=2)
# Look-ups are round trips to the provider: one after another, 500 of them outlast the
# lease this job also renews. This many run side by side.
LOOKUPS = 16


@runtime_checkable
class Lookup(Protocol):
    async def find_sent(self, to: str, since: datetime, body: str) -> Receipt | None: ...


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    resent: int = 0
    found: int = 0
    unknown: int = 0


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

    With ``held`` (what ``owner`` still works on), ``owner``'s own other rows too: a
    batch dropped between its claim and its attempt's write is recovered without a restart.
    """
    expired = await store.expired_leases(now, owner, limit=500, held=held)
    if not expired:
        return RecoveryReport()
    taken = set(await store.adopt([n.id for n in expired], now, owner, dispatch.lease))
    changes: list[Change] = []
    resent = found = unknown = 0
    by_id = {n.id: n for n in expired}
    # Skipped: rows another process took, and rows that follow the one they were folded into.
    mine = [n for n in expired if n.id in taken and n.folded_into is None]
    gate = asyncio.Semaphore(LOOKUPS)

    async def resolve(n: Notification) -> Change:
        async with gate:
            return await _resolve(n, channels, dispatch)

    resolved = await asyncio.gather(*(resolve(n) for n in mine))
    for n, change in zip(mine, resolved, strict=True):
        members = [by_id[m] for m in n.members if m in by_id]
        changes.append(change)
        changes.extend(_follow(change, m) for m in members)
        if change.status is NotificationStatus.SENT:
            found += 1
        elif change.status is NotificationStatus.UNKNOWN:
            unknown += 1
        else:
            resent += 1
    # Members whose primary is not among the expired rows go back on their own.
    for n in expired:
        if n.folded_into is not None and n.folded_into not in by_id and n.id in taken:
            changes.append(_again(n, "the message it was folded into is gone", now))
    await store.apply_changes(changes, now)
    log.warning("recovery.done", resent=resent, found=found, unknown=unknown)
    return RecoveryReport(resent, found, unknown)


async def _resolve(n: Notification, channels: Channels, dispatch: DispatchSettings) -> Change:
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
    except SendError as exc:  # lookup failed: the row stays sending, unleased; the next round asks
        log.warning("recovery.lookup_failed", notification_id=n.id, error=str(exc))
        return Change(n.id, Event("recovery_deferred", str(exc), n.channel), release=True)
    if receipt is None:
        return _again(n, f"{n.channel}: the provider never got it; resending", None)
    detail = {"provider_id": receipt.provider_id, "status": receipt.status}
    return Change(
        n.id, Event("sent", "found at the provider after a crash", n.channel, detail),
        NotificationStatus.SENT, provider_id=receipt.provider_id, sent_at=n.attempted_at,
        release=True,
    )  # fmt: skip


def _again(n: Notification, reason: str, now: datetime | None) -> Change:
    return back_in_outbox(n.id, now or n.not_before, Event("recovered", reason, n.channel))


def _follow(primary: Change, member: Notification) -> Change:
    """A folded row shares its message's fate: sent with it, or back in the outbox."""
    if primary.status in (NotificationStatus.SENT, NotificationStatus.UNKNOWN):
        return Change(member.id, Event(primary.status.value, f"inside notification {primary.id}"),
                      primary.status, provider_id=primary.provider_id,
                      sent_at=primary.sent_at, release=True)  # fmt: skip
    reason = f"notification {primary.id} was not confirmed; back in the outbox"
    return back_in_outbox(member.id, member.not_before, Event("unfolded", reason), unfold=True)
