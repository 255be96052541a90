"""What providers post back: delivery reports, and texts customers send to our numbers.

Each request is acted on once: its receipt (the provider's message id) is recorded first,
so a replay changes nothing, and dropped again when handling fails, so the provider's
retry is acted on. A text is recorded as the customer's interaction; STOP and START set
consent, HELP is answered in the sender's locale, anything else goes to ops by email:
alone, or, from a customer whose newest message from us is a crisis message, in the
incident's next digest (``domain/crisis_replies.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog

from notifier.channels.keywords import classify_inbound
from notifier.channels.twilio_api import report_outcome
from notifier.channels.twilio_webhook import twiml_reply
from notifier.clock import Clock
from notifier.config import MessageSettings
from notifier.domain.crisis_replies import CrisisReply, answered_incident
from notifier.domain.ingest import InteractionData
from notifier.domain.local_text import text_for
from notifier.domain.models import ChannelName, Customer, Direction
from notifier.domain.ops_notices import inbound_reply_notice
from notifier.domain.outbox import Scheduled
from notifier.engine.ingest.ports import InboundStore, Interactions, Receipts
from notifier.observability import mask_phone

__all__ = ["Inbound", "InboundText", "twiml_reply"]
log = structlog.get_logger("notifier.webhooks")


@dataclass(frozen=True, slots=True)
class InboundText:
    """One text a customer sent: from which channel and number, what it says, its id."""

    channel: ChannelName
    number: str
    body: str
    sid: str  # empty when the provider sent none

    @classmethod
    def from_sender(cls, sender: str, body: str, sid: str) -> InboundText:
        """Read Twilio's From: WhatsApp numbers come as ``whatsapp:+54...``."""
        channel: ChannelName = "whatsapp" if sender.startswith("whatsapp:") else "sms"
        return cls(channel, sender.removeprefix("whatsapp:"), body, sid)


class Inbound:
    """Acts on delivery reports and inbound texts; wakes the dispatcher when rows are due."""

    def __init__(
        self,
        store: InboundStore,
        interactions: Interactions,
        clock: Clock,
        messages: MessageSettings,
        wake_dispatcher: Callable[[], None],
    ) -> None:
        self.store = store
        self.interactions = interactions
        self.clock = clock
        self.messages = messages
        self.wake_dispatcher = wake_dispatcher

    async def delivery_report(self, sid: str, state: str, error_code: str | None) -> None:
        """Record a delivery report; undelivered and failed send the notification on its way.

        Twilio's code table classifies it; a 21610 records the opt-out as a STOP would.
        """
        report = report_outcome(sid, state, error_code)
        key = f"twilio-status:{sid}:{report.status}"
        if not await self.store.first_receipt(key, self.clock.now()):
            log.info("webhooks.replay", provider_id=sid, status=report.status)
            return
        async with undo_receipt_on_error(self.store, key):
            outcome = await self.store.record_delivery(report, self.clock.now())
        if not outcome.found:
            log.info("webhooks.status_unknown", provider_id=sid, status=report.status)
            return
        log.info(
            "webhooks.status",
            provider_id=sid,
            status=report.status,
            code=report.code,
            notifications=list(outcome.found),
            moved_on=list(outcome.moved_on),
            address_failed=outcome.address_failed,
            opted_out=outcome.opted_out,
        )
        if outcome.moved_on:
            self.wake_dispatcher()

    async def text(self, msg: InboundText) -> str | None:
        """Act on a customer's text; return the reply to send back (HELP's), or None."""
        kind = classify_inbound(msg.body)
        now = self.clock.now()
        key = f"twilio-inbound:{msg.sid}"
        # A message without an id cannot be told from its replay: it is acted on every time.
        if msg.sid and not await self.store.first_receipt(key, now):
            log.info("webhooks.replay", provider_id=msg.sid, channel=msg.channel)
            return None
        async with undo_receipt_on_error(self.store, key if msg.sid else None):
            found = (
                await self.store.customers_by_number(msg.channel, msg.number) if msg.number else []
            )
            await self.interactions.add_interactions(
                [InteractionData(c.id, msg.channel, Direction.INBOUND, now, msg.body or None)
                 for c in found]
            )  # fmt: skip
            if kind in ("stop", "start"):
                for customer in found:
                    await self.store.set_consent(customer.id, msg.channel, kind == "start", now)
            elif kind == "other":  # a person answers: ops get it by email through the outbox
                alone = await self._record_crisis_replies(msg, found, key)
                if alone or not found:
                    await self._forward_to_ops(msg, alone)
        log.info(
            "webhooks.inbound",
            channel=msg.channel,
            kind=kind,
            sender=mask_phone(msg.number),
            customers=[c.id for c in found],
            provider_id=msg.sid or None,
        )
        if kind != "help":
            return None
        # In the sender's locale when the number is a customer's (NOTIFIER_HELP_TEXT per locale).
        s = self.messages
        locale = found[0].locale if found else s.default_locale
        return text_for(s.help_text, locale, s.default_locale)

    async def _record_crisis_replies(
        self, msg: InboundText, found: list[Customer], key: str
    ) -> list[Customer]:
        """Record the text against the incident each sender's newest message is from;
        return the customers it is no crisis reply of (their text is forwarded alone)."""
        if not found:
            return []
        now = self.clock.now()
        last = {m.customer_id: m for m in await self.store.last_messages([c.id for c in found])}
        sender = mask_phone(msg.number)
        # Without a MessageSid nothing tells a replay apart: the sender and instant do.
        source = key if msg.sid else f"twilio-inbound:{sender}:{now:%Y%m%dT%H%M%S.%f}"
        replies: list[CrisisReply] = []
        alone: list[Customer] = []
        for customer in found:
            incident_id = answered_incident(last.get(customer.id), now)
            if incident_id is None:
                alone.append(customer)
            else:
                replies.append(CrisisReply(incident_id, customer.id, msg.channel, sender,
                                           msg.body, source, now))  # fmt: skip
        if replies:
            added = await self.store.record_replies(replies)
            log.info("webhooks.crisis_reply", provider_id=msg.sid or None,
                     incidents=sorted({r.incident_id for r in replies}),
                     customers=[r.customer_id for r in replies], recorded=added)  # fmt: skip
        return alone

    async def _forward_to_ops(self, msg: InboundText, found: list[Customer]) -> None:
        """Put the text in the outbox for ops, and wake the dispatcher: it sends the email.

        A replay (the same MessageSid) is the same notice: it is not enqueued twice.
        """
        now = self.clock.now()
        notice = inbound_reply_notice(msg.channel, msg.number, msg.body, found, msg.sid, now)
        added = await self.store.enqueue([Scheduled(notice, now)], now)
        if added:
            self.wake_dispatcher()
        log.info("webhooks.forwarded", provider_id=msg.sid, customers=[c.id for c in found],
                 queued=bool(added))  # fmt: skip


@asynccontextmanager
async def undo_receipt_on_error(store: Receipts, key: str | None) -> AsyncIterator[None]:
    """Drop the receipt when handling fails, so that the provider's retry is acted on."""
    try:
        yield
    except BaseException:
        if key is not None:
            try:
                await store.drop_receipt(key)
            except Exception as exc:  # the store is failing: the handling error matters more
                log.error("webhooks.receipt_kept", key=key, reason=type(exc).__name__)
        raise
