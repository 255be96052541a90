"""Customers' email replies: the same path as an inbound text, on the email channel.

The reply's In-Reply-To and References name our emails by Message-ID (the notification's
``provider_id``); its From address names the customer. A Message-ID match counts only when
the sender is that notification's customer: anyone else quoting our email is matched by
their own address or not at all, so no customer's thread is shown to another. Then, as
for a text: the customer's touchpoint (email becomes their last used channel), STOP and
START on their own set email consent, a reply to an incident's email goes into the
incident's digest, anything else to ops alone. HELP gets no automatic answer by email:
it goes to ops like any other reply. Out-of-office answers (RFC 3834) are acknowledged
and dropped: a crisis email to thousands would otherwise fill the digest with them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Literal

import structlog

from notifier.channels.email_inbound import FORM_TYPES, RAW_FIELDS, form_field, parse_reply
from notifier.channels.keywords import classify_inbound
from notifier.clock import Clock
from notifier.domain.crisis_replies import CrisisReply, LastMessage, answered_incident
from notifier.domain.email_replies import InboundEmail
from notifier.domain.errors import InvalidInputError
from notifier.domain.ingest import InteractionData
from notifier.domain.models import Customer, Direction
from notifier.domain.ops_notices import inbound_reply_notice
from notifier.domain.outbox import Scheduled
from notifier.engine.ingest.inbound import undo_receipt_on_error
from notifier.engine.ingest.ports import InboundEmailStore, Interactions
from notifier.observability import mask_email

log = structlog.get_logger("notifier.webhooks")
EmailOutcome = Literal[
    "replay", "automatic", "opted_out", "opted_in", "digest", "forwarded", "unknown_sender"
]
_ID_CHARS = 150  # a longer Message-ID is keyed by its digest (receipt keys hold 200)


def raw_message(content_type: str, body: bytes) -> bytes:
    """Return the raw message a provider posted: the body itself, or a form's ``email``
    (SendGrid) or ``body-mime`` (Mailgun) field. Raises InvalidInputError without one."""
    if content_type.split(";")[0].strip().lower() not in FORM_TYPES:
        return body
    for name in RAW_FIELDS:
        found = form_field(content_type, body, name)
        if found is not None:
            return found
    raise InvalidInputError("email", "missing: the form has no email or body-mime field")


def receipt_key(mail: InboundEmail) -> str:
    """Return the webhook receipt key of ``mail``: its Message-ID, else its bytes' digest."""
    if mail.message_id is None:
        return f"email-inbound:sha256:{mail.fingerprint}"
    if len(mail.message_id) > _ID_CHARS:
        return f"email-inbound:sha256:{hashlib.sha256(mail.message_id.encode()).hexdigest()}"
    return f"email-inbound:{mail.message_id}"


class InboundEmails:
    """Acts on customers' email replies, once each; wakes the dispatcher for a forward."""

    def __init__(
        self,
        store: InboundEmailStore,
        interactions: Interactions,
        clock: Clock,
        wake_dispatcher: Callable[[], None],
    ) -> None:
        self.store = store
        self.interactions = interactions
        self.clock = clock
        self.wake_dispatcher = wake_dispatcher

    async def receive(self, content_type: str, body: bytes) -> EmailOutcome:
        """Act on the email posted as ``body``; return what became of it.

        Raises InvalidInputError when no message can be read from it.
        """
        mail = parse_reply(raw_message(content_type, body))
        key = receipt_key(mail)
        sender = mask_email(mail.sender)
        if mail.auto:
            log.info("webhooks.email_automatic", sender=sender, provider_id=mail.message_id)
            return "automatic"
        if not await self.store.first_receipt(key, self.clock.now()):
            log.info("webhooks.replay", provider_id=mail.message_id, channel="email")
            return "replay"
        async with undo_receipt_on_error(self.store, key):
            outcome, found = await self._act(mail, key)
        log.info("webhooks.inbound_email", outcome=outcome, sender=sender,
                 customers=[c.id for c in found], provider_id=mail.message_id)  # fmt: skip
        return outcome

    async def _act(self, mail: InboundEmail, key: str) -> tuple[EmailOutcome, list[Customer]]:
        now = self.clock.now()
        found, threads = await self._senders(mail)
        await self.interactions.add_interactions(
            [InteractionData(c.id, "email", Direction.INBOUND, now, mail.text or None)
             for c in found]
        )  # fmt: skip
        kind = classify_inbound(mail.text)
        if kind in ("stop", "start") and found:
            for customer in found:
                await self.store.set_consent(customer.id, "email", kind == "start", now)
            return ("opted_in" if kind == "start" else "opted_out"), found
        alone = await self._record_crisis_replies(mail, found, threads, key)
        if alone or not found:
            await self._forward_to_ops(mail, alone, key)
        if not found:
            return "unknown_sender", found
        return ("forwarded" if alone else "digest"), found

    async def _senders(self, mail: InboundEmail) -> tuple[list[Customer], dict[str, LastMessage]]:
        """Return the customers ``mail`` is from, and the email of ours each one answers.

        The customers are those whose address is the sender's; when some of them are the
        ones our referenced emails went to, only those (the reply names its thread).
        """
        found = await self.store.customers_by_email(mail.sender)
        if not found or not mail.references:
            return found, {}
        ids = {c.id for c in found}
        threads: dict[str, LastMessage] = {}
        for message in await self.store.messages_by_provider_ids(mail.references):
            if message.customer_id in ids:
                threads.setdefault(message.customer_id, message)  # the newest first
            else:
                log.info("webhooks.email_thread_refused", provider_id=mail.message_id)
        if threads:
            found = [c for c in found if c.id in threads]
        return found, threads

    async def _record_crisis_replies(
        self,
        mail: InboundEmail,
        found: Sequence[Customer],
        threads: dict[str, LastMessage],
        key: str,
    ) -> list[Customer]:
        """Record the reply against the incident it answers, for each customer; return those
        it answers none for (forwarded alone)."""
        if not found:
            return []
        now = self.clock.now()
        unthreaded = [c.id for c in found if c.id not in threads]
        last = {m.customer_id: m for m in await self.store.last_messages(unthreaded)}
        replies: list[CrisisReply] = []
        alone: list[Customer] = []
        for customer in found:
            incident_id = answered_incident(threads.get(customer.id) or last.get(customer.id), now)
            if incident_id is None:
                alone.append(customer)
            else:
                masked = mask_email(mail.sender)
                replies.append(
                    CrisisReply(incident_id, customer.id, "email", masked, mail.text, key, now)
                )
        if replies:
            added = await self.store.record_replies(replies)
            log.info("webhooks.crisis_reply", provider_id=mail.message_id,
                     incidents=sorted({r.incident_id for r in replies}),
                     customers=[r.customer_id for r in replies], recorded=added)  # fmt: skip
        return alone

    async def _forward_to_ops(self, mail: InboundEmail, found: list[Customer], key: str) -> None:
        """Put the reply in the outbox for ops (once per receipt key), and wake the dispatcher."""
        now = self.clock.now()
        ref = "email:" + hashlib.sha256(key.encode()).hexdigest()[:32]
        notice = inbound_reply_notice("email", mail.sender, mail.text, found, ref, now)
        if await self.store.enqueue([Scheduled(notice, now)], now):
            self.wake_dispatcher()
