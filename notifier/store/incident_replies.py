"""Customers' replies to crisis messages, and the digests that take them to ops.

A digest is written exactly once, whoever else tries at the same time: in one
transaction, with the incident's row locked (PostgreSQL; SQLite has one writer), the
replies not yet digested up to the newest one read are marked with the digest's number
and its ops notification goes into the outbox under ``incident:<id>:digest:<n>``. A
second replica, or a run after a crash, finds the number taken or the replies marked and
writes nothing. Digested rows stay (their texts erased by the retention purge), so an
incident's digest numbers only go up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.crisis_replies import CrisisReply, LastMessage, PendingReplies
from notifier.domain.models import (
    CHANNELS,
    ChannelName,
    CustomerId,
    IncidentStatus,
    NotificationStatus,
)
from notifier.domain.notices import StandaloneNotice
from notifier.domain.outbox import Scheduled
from notifier.store.base import StoreBase
from notifier.store.convert import incident_replies, incidents, notifications
from notifier.store.dialects.sqlite_scan import outbox_row
from notifier.store.earliest import SEND, announce

# A message "went out" once the provider took it; one that bounced told nobody anything.
_WENT_OUT = (NotificationStatus.SENT.value, NotificationStatus.DELIVERED.value)
# A customer's newest sent rows read to find the newest one to them (not an escalation
# to ops about them): a customer escalated this many times in a row has no crisis thread.
_LOOK_BACK = 20


class _Taken(Exception):
    """Another run wrote this digest (or took some of its replies): write nothing."""


class IncidentReplyQueries(StoreBase):
    async def last_messages(self, customer_ids: Sequence[str]) -> list[LastMessage]:
        """Return each customer's newest message from us that went out (not to ops)."""
        n, i = notifications.c, incidents.c
        found: list[LastMessage] = []
        async with self.reading() as conn:
            for cid in dict.fromkeys(customer_ids):
                rows = await conn.execute(
                    select(n.incident_id, n.payload, i.status, i.resolved_at)
                    .select_from(notifications.outerjoin(incidents, i.id == n.incident_id))
                    .where(n.customer_id == cid, n.sent_at.is_not(None), n.status.in_(_WENT_OUT))
                    .order_by(n.sent_at.desc(), n.id.desc())
                    .limit(_LOOK_BACK)
                )  # fmt: skip
                row = next((r for r in rows if _audience(r[1]) != "ops"), None)
                if row is not None:
                    status = IncidentStatus(row[2]) if row[2] is not None else None
                    found.append(LastMessage(CustomerId(cid), row[0], status, row[3]))
        return found

    async def messages_by_provider_ids(self, provider_ids: Sequence[str]) -> list[LastMessage]:
        """Return the emails to customers (not ops) sent under these Message-IDs, newest
        first, each with its incident, if any: the messages an email reply answers."""
        if not provider_ids:
            return []
        n, i = notifications.c, incidents.c
        query = (
            select(n.customer_id, n.incident_id, n.payload, i.status, i.resolved_at)
            .select_from(notifications.outerjoin(incidents, i.id == n.incident_id))
            .where(n.provider_id.in_(list(dict.fromkeys(provider_ids))), n.channel == "email",
                   n.customer_id.is_not(None))
            .order_by(n.sent_at.desc(), n.id.desc())
        )  # fmt: skip
        async with self.reading() as conn:
            rows = (await conn.execute(query)).all()
        return [
            LastMessage(CustomerId(r[0]), r[1], IncidentStatus(r[3]) if r[3] else None, r[4])
            for r in rows
            if _audience(r[2]) != "ops"
        ]

    async def record_replies(self, replies: Sequence[CrisisReply]) -> int:
        """Record replies against their incidents, once per webhook request; return the new."""
        if not replies:
            return 0
        rows = [
            {"incident_id": r.incident_id, "customer_id": r.customer_id, "channel": r.channel,
             "sender": r.sender[:32], "body": r.text, "source": r.source[:200], "at": r.at,
             "digest": None}
            for r in replies
        ]  # fmt: skip
        async with self.transaction() as conn:
            result = await conn.execute(
                self.dialect.insert(incident_replies)
                .on_conflict_do_nothing(index_elements=["source", "customer_id"])
                .returning(incident_replies.c.id),
                rows,
            )
            return len(result.all())

    async def incidents_with_new_replies(self) -> list[int]:
        """Return the incidents with replies no digest took yet."""
        r = incident_replies.c
        query = select(r.incident_id).where(r.digest.is_(None)).group_by(r.incident_id)
        async with self.reading() as conn:
            return sorted(int(v) for v in await conn.scalars(query))

    async def new_replies(self, incident_id: int, listed: int) -> PendingReplies | None:
        """Return the incident's replies for its next digest (the first ``listed`` of them
        in full, oldest first), or None when there are none."""
        r = incident_replies.c
        pending = [r.incident_id == incident_id, r.digest.is_(None)]
        async with self.reading() as conn:
            head = await conn.execute(
                select(func.count(), func.max(r.id), func.min(r.at), func.max(r.at)).where(*pending)
            )
            count, last_id, first_at, last_at = head.one()
            incident = (
                await conn.execute(
                    select(incidents.c.title, incidents.c.status)
                    .where(incidents.c.id == incident_id)
                )
            ).first()  # fmt: skip
            if not count or incident is None:
                return None
            done = await conn.scalar(select(func.max(r.digest)).where(r.incident_id == incident_id))
            rows = await conn.execute(
                select(incident_replies).where(*pending, r.id <= last_id).order_by(r.id)
                .limit(listed)
            )  # fmt: skip
            oldest = tuple(_reply(row) for row in rows.mappings())
        return PendingReplies(
            incident_id, incident[0], IncidentStatus(incident[1]), int(done or 0) + 1,
            int(count), int(last_id), first_at, last_at, oldest,
        )  # fmt: skip

    async def write_digest(
        self, pending: PendingReplies, notice: StandaloneNotice, now: datetime
    ) -> bool:
        """Mark ``pending``'s replies and put ``notice`` in the outbox, in one transaction.

        False, writing nothing, when the digest was written already (another replica) or
        its replies changed since they were read (a new one numbered lower, a customer
        forgotten): the next run reads them again.
        """
        r = incident_replies.c
        try:
            async with self.transaction() as conn:
                lock = select(incidents.c.id).where(incidents.c.id == pending.incident_id)
                await conn.execute(self.dialect.locked(lock))
                done = await conn.scalar(
                    select(func.max(r.digest)).where(r.incident_id == pending.incident_id)
                )
                if int(done or 0) + 1 != pending.digest:
                    raise _Taken
                marked = await conn.execute(
                    update(incident_replies)
                    .where(r.incident_id == pending.incident_id, r.digest.is_(None),
                           r.id <= pending.last_id)
                    .values(digest=pending.digest)
                )  # fmt: skip
                if marked.rowcount != pending.count:
                    raise _Taken
                inserted = await conn.execute(
                    self.dialect.insert(notifications)
                    .values(outbox_row(Scheduled(notice, now), now))
                    .on_conflict_do_nothing(index_elements=["dedupe_key"])
                    .returning(notifications.c.id)
                )
                if inserted.first() is None:
                    raise _Taken
                await announce(conn, SEND)
        except _Taken:
            return False
        return True


async def forget_replies(conn: AsyncConnection, customer_id: str) -> None:
    """Drop the customer's replies no digest took, and erase the texts of the others."""
    r = incident_replies.c
    await conn.execute(
        delete(incident_replies).where(r.customer_id == customer_id, r.digest.is_(None))
    )
    await conn.execute(
        update(incident_replies).where(r.customer_id == customer_id).values(body=None, sender="")
    )


def _audience(payload: Any) -> str | None:
    found = payload.get("audience") if isinstance(payload, dict) else None
    return found if isinstance(found, str) else None


def _reply(row: Any) -> CrisisReply:
    channel: ChannelName = next((c for c in CHANNELS if c == row["channel"]), "sms")
    return CrisisReply(
        int(row["incident_id"]), CustomerId(row["customer_id"]), channel, row["sender"],
        row["body"], row["source"], row["at"],
    )  # fmt: skip
