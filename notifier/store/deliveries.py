"""What providers tell us after a send: delivery reports, and who wrote in from a number."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update

from notifier.domain.models import (
    ChannelName,
    Customer,
    CustomerId,
    JSONValue,
    NotificationId,
    NotificationStatus,
)
from notifier.domain.outbox import Change, Event, Notification
from notifier.store.base import StoreBase
from notifier.store.claims import apply_changes, to_notification
from notifier.store.convert import customers, notifications, to_customer
from notifier.store.customers import mark_undeliverable

# 21211 (no such number) and 21614 (a landline) can come back in a status callback as well
# as from the API: either way no later message can reach that address on that channel.
DEAD_ADDRESS = frozenset({"21211", "21614"})
# A few codes seen in status callbacks, so the timeline says more than a number.
MEANINGS: Mapping[str, str] = {
    "21211": "not a valid phone number",
    "21614": "not a mobile number",
    "21610": "the recipient unsubscribed (STOP)",
    "30003": "handset unreachable",
    "30004": "message blocked",
    "30005": "unknown handset",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier",
    "30008": "unknown error",
    "63016": "outside the WhatsApp 24 h window",
}
_DELIVERED = {"delivered", "read"}
_FAILED = {"undelivered", "failed"}
# Rows a delivery report may still change: the message is out, or we lost track of it.
_OPEN = {NotificationStatus.SENT.value, NotificationStatus.UNKNOWN.value}


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """One status callback: the provider's message id, its status and error code."""

    provider_id: str
    status: str  # Twilio's MessageStatus: queued, sent, delivered, read, undelivered, failed ...
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What a report changed: the rows it named, and those now waiting for another channel."""

    found: tuple[NotificationId, ...] = ()
    moved_on: tuple[NotificationId, ...] = ()
    delivered: tuple[NotificationId, ...] = ()
    customer_id: CustomerId | None = None
    channel: ChannelName | None = None
    address_failed: bool = False


class DeliveryQueries(StoreBase):
    async def record_delivery(self, report: DeliveryReport, now: datetime) -> DeliveryOutcome:
        """Apply a status callback to the notifications it names; unknown ids change nothing.

        Undelivered and failed put the rows back in the outbox with the channel marked
        failed, so the dispatcher tries the next one; a dead address is marked undeliverable.
        A late or repeated report for a row that has moved on is only recorded in its history.
        """
        async with self.transaction() as conn:
            query = select(notifications).where(notifications.c.provider_id == report.provider_id)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            rows = [to_notification(r) for r in (await conn.execute(query)).mappings()]
            if not rows:
                return DeliveryOutcome()
            changes, delivered = delivery_changes(rows, report, now)
            await apply_changes(conn, changes, now)
            if delivered:
                await conn.execute(
                    update(notifications)
                    .where(notifications.c.id.in_(delivered))
                    .values(delivered_at=now)
                )
            first = rows[0]
            moved = tuple(c.id for c in changes if c.fail_channel is not None)
            dead = bool(moved) and report.error_code in DEAD_ADDRESS
            cid, channel, address = first.customer_id, first.channel, first.address
            if dead and cid is not None and channel is not None and address is not None:
                await mark_undeliverable(conn, cid, channel, address)
        return DeliveryOutcome(
            found=tuple(n.id for n in rows),
            moved_on=moved,
            delivered=tuple(delivered),
            customer_id=first.customer_id,
            channel=first.channel,
            address_failed=dead,
        )

    async def customers_by_number(self, channel: ChannelName, number: str) -> list[Customer]:
        """Return the customers whose ``channel`` address is ``number`` (E.164, no prefix).

        A WhatsApp message from a customer without a WhatsApp number of their own matches
        their phone, as routing sends WhatsApp to the phone in that case.
        """
        if channel == "sms":
            match = customers.c.phone == number
        else:
            match = or_(
                customers.c.whatsapp == number,
                and_(customers.c.whatsapp.is_(None), customers.c.phone == number),
            )
        async with self.reading() as conn:
            rows = (await conn.execute(select(customers).where(match))).mappings()
            return [to_customer(r) for r in rows]


def delivery_changes(
    rows: Sequence[Notification], report: DeliveryReport, now: datetime
) -> tuple[list[Change], list[NotificationId]]:
    """Return the changes a report makes to the rows sharing its provider id, and the delivered.

    Several rows share one provider id when notices went out folded into one message.
    """
    changes: list[Change] = []
    delivered: list[NotificationId] = []
    code = report.error_code or None
    detail: dict[str, JSONValue] = {"provider_id": report.provider_id, "status": report.status}
    if code:
        detail["code"] = code
    for n in rows:
        state = n.status.value
        if report.status in _DELIVERED and state in _OPEN:
            event = Event("delivered", f"the provider reports {report.status}", n.channel, detail)
            changes.append(Change(n.id, event, NotificationStatus.DELIVERED))
            delivered.append(n.id)
        elif report.status in _FAILED and state in _OPEN and n.channel is not None:
            changes.append(_moved_on(n.id, n.channel, report, detail, now))
        elif report.status in _DELIVERED and state == NotificationStatus.DELIVERED.value:
            if report.status == "read":
                changes.append(Change(n.id, Event("read", "the recipient read it", n.channel)))
        else:
            reason = f"the provider reports {report.status}"
            if state not in _OPEN and report.status in _DELIVERED | _FAILED:
                reason += f" (late: the notification is {state} already; nothing changes)"
            changes.append(Change(n.id, Event("provider_status", reason, n.channel, detail)))
    return changes, delivered


def _moved_on(
    nid: NotificationId,
    channel: ChannelName,
    report: DeliveryReport,
    detail: dict[str, JSONValue],
    now: datetime,
) -> Change:
    code = report.error_code or None
    meaning = MEANINGS.get(code or "", "no reason given")
    reason = f"Twilio reports {report.status}" + (f" ({code}: {meaning})" if code else "")
    if code in DEAD_ADDRESS:
        reason += f"; the address is marked undeliverable on {channel}"
    reason += "; trying the next channel"
    return Change(
        nid,
        Event(report.status, reason, channel, detail),
        NotificationStatus.PENDING,
        not_before=now,
        error_code=code,
        error=reason,
        fail_channel=channel,
        unfold=True,
        release=True,
    )
