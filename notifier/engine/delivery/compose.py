"""Turning a routed notification into the message a channel sends: the one message builder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from notifier.channels.base import OutboundMessage
from notifier.channels.twilio_api import status_callback_url
from notifier.channels.unsubscribe import unsubscribe_url
from notifier.config import LinkSettings, MessageSettings
from notifier.domain.ingest import TimelineEntry
from notifier.domain.models import ChannelName, Customer, Promise
from notifier.domain.names import given_names
from notifier.domain.outbox import Notification
from notifier.templates import Company, Renderer, build_context
from notifier.templates.render import Rendered, RenderJob, TemplateError

WHATSAPP_SESSION = timedelta(hours=24)
OPS_LOCALE = "en"  # ops messages ship in English; a template in the default locale wins


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who reads a message, as far as the channel cares (ops: nobody's link or name).

    ``link_id`` is what the email's unsubscribe link opts out: a customer's id, or the
    address itself for a test send; None writes no link.
    """

    link_id: str | None = None
    name: str | None = None
    whatsapp_session_open: bool = False
    content_variables: Mapping[str, str] = field(default_factory=dict)


TO_OPS = Recipient()


def customer_recipient(customer: Customer, rendered: Rendered, now: datetime) -> Recipient:
    """Return the customer as the recipient of ``rendered``: their link, name and session."""
    session_open = (
        customer.last_whatsapp_inbound_at is not None
        and now - customer.last_whatsapp_inbound_at < WHATSAPP_SESSION
    )
    # An approved WhatsApp template takes numbered variables: 1 the customer's first name,
    # 2 the message as rendered (templates approved as "{{1}}, {{2}}" carry it whole).
    first = given_names(customer.name or "")
    return Recipient(customer.id, customer.name, session_open, {"1": first, "2": rendered.text})


def outbound_message(
    s: LinkSettings,
    dedupe_key: str,
    rendered: Rendered,
    channel: ChannelName,
    address: str,
    recipient: Recipient,
    now: datetime,
) -> OutboundMessage:
    """Return the message for the adapter: every send, the outbox's and a test send, is built here.

    Email gets the one-click unsubscribe link when the recipient has one and the link can
    be signed; SMS and WhatsApp get the status callback when NOTIFIER_PUBLIC_URL is set.
    """
    unsubscribe = None
    # Start-up refuses email without both outside demo and test mode (link_readiness).
    if channel == "email" and recipient.link_id is not None and s.public_url and s.secret_key:
        secret = s.secret_key.get_secret_value().encode()
        unsubscribe = unsubscribe_url(s.public_url, secret, recipient.link_id, "email", now)
    return OutboundMessage(
        dedupe_key=dedupe_key,
        channel=channel,
        to=address,
        text=rendered.text,
        message_name=rendered.message,
        locale=rendered.locale,
        subject=rendered.subject,
        html=rendered.html,
        to_name=recipient.name,
        unsubscribe_url=unsubscribe,
        whatsapp_session_open=recipient.whatsapp_session_open,
        content_variables=recipient.content_variables,
        status_callback=(
            status_callback_url(s.public_url)
            if s.public_url and channel in ("sms", "whatsapp")
            else None
        ),
    )


@dataclass(frozen=True, slots=True)
class Draft:
    """One customer message to render ahead: the notification, its message and promises."""

    notification: Notification
    message: str
    channel: ChannelName
    customer: Customer | None  # None: an ops notice about no one customer
    promise: Promise | None
    others: Sequence[Promise]
    incident: Mapping[str, object] | None = None  # a crisis message's ``incident``


@dataclass(frozen=True, slots=True)
class Composer:
    renderer: Renderer
    company: Company
    messages: MessageSettings
    links: LinkSettings

    async def render(
        self,
        n: Notification,
        message: str,
        channel: ChannelName,
        customer: Customer | None,
        promise: Promise | None,
        others: Sequence[Promise],
        now: datetime,
        timeline: Sequence[TimelineEntry] = (),
        ops: Mapping[str, object] | None = None,
        incident: Mapping[str, object] | None = None,
    ) -> Rendered:
        """Render ``message`` for ``channel`` in the customer's locale (ops: the default).

        ``customer`` is None for an ops notice about no one customer; ``ops`` is what its
        template reads. The render runs in the renderer's worker threads, off the event
        loop, bounded in time; any failure comes back as a TemplateError.
        """
        context = self.context(customer, promise, others, now, timeline, ops, incident)
        return await self.renderer.render_async(
            message, channel, self._locale(n, message, channel, customer), context
        )

    def context(
        self,
        customer: Customer | None,
        promise: Promise | None,
        others: Sequence[Promise],
        now: datetime,
        timeline: Sequence[TimelineEntry] = (),
        ops: Mapping[str, object] | None = None,
        incident: Mapping[str, object] | None = None,
    ) -> Mapping[str, object]:
        """Return what a template reads for this message."""
        return build_context(
            customer,
            promise,
            others=others,
            company=self.company,
            now=now,
            currency=self.messages.default_currency,
            timeline=timeline,
            ops=ops,
            incident=incident,
        )

    async def render_many(
        self, items: Sequence[Draft], now: datetime
    ) -> list[Rendered | TemplateError | None]:
        """Render customer messages in one trip to the renderer's worker thread.

        Each item comes back rendered, as the TemplateError its render raised (the same
        ``render`` would raise), or None when it must be rendered alone with ``render``:
        its context could not be built, or the batch path itself failed.
        """
        jobs: list[RenderJob] = []
        places: list[int | None] = []
        for d in items:
            try:
                context = self.context(d.customer, d.promise, d.others, now, (), None, d.incident)
            except Exception:  # this item's values: ``render`` will say what is wrong
                places.append(None)
                continue
            places.append(len(jobs))
            locale = self._locale(d.notification, d.message, d.channel, d.customer)
            jobs.append(RenderJob(d.message, d.channel, locale, context))
        try:
            results = await self.renderer.render_many_async(jobs)
        except Exception:  # a bug in the batch path must not fail the claim: go one by one
            return [None] * len(items)
        return [None if i is None else results[i] for i in places]

    def template_path(
        self, n: Notification, message: str, channel: ChannelName, customer: Customer | None
    ) -> Path | None:
        """Return the template ``render`` uses for this customer, or None when there is none."""
        locale = self._locale(n, message, channel, customer)
        return self.renderer.template_path(message, channel, locale)

    def outbound(
        self,
        n: Notification,
        rendered: Rendered,
        channel: ChannelName,
        address: str,
        customer: Customer | None,
        now: datetime,
    ) -> OutboundMessage:
        """Return the message for the adapter, with unsubscribe link and status callback."""
        recipient = (
            customer_recipient(customer, rendered, now)
            if n.audience == "customer" and customer is not None
            else TO_OPS
        )
        return outbound_message(
            self.links, n.dedupe_key, rendered, channel, address, recipient, now
        )

    def _locale(
        self, n: Notification, message: str, channel: ChannelName, customer: Customer | None
    ) -> str:
        """The customer's locale; for ops the default one, else English (ops_* ship in it)."""
        if n.audience == "customer" and customer is not None:
            return customer.locale
        default = self.messages.default_locale
        if self.renderer.template_path(message, channel, default) is None:
            return OPS_LOCALE
        return default
