"""Turning a routed notification into the message a channel sends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from notifier.channels.base import OutboundMessage
from notifier.channels.unsubscribe import unsubscribe_url
from notifier.config import Settings
from notifier.domain.ingest import TimelineEntry
from notifier.domain.models import ChannelName, Customer, Promise
from notifier.domain.outbox import Notification
from notifier.templates import Company, Renderer, build_context
from notifier.templates.render import Rendered

WHATSAPP_SESSION = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Composer:
    renderer: Renderer
    company: Company
    settings: Settings

    async def render(
        self,
        n: Notification,
        message: str,
        channel: ChannelName,
        customer: Customer,
        promise: Promise | None,
        others: Sequence[Promise],
        now: datetime,
        timeline: Sequence[TimelineEntry] = (),
    ) -> Rendered:
        """Render ``message`` for ``channel`` in the customer's locale (ops: the default).

        The render runs in the renderer's worker threads, off the event loop, bounded in
        time; any failure comes back as a TemplateError.
        """
        context = build_context(
            customer,
            promise,
            others=others,
            company=self.company,
            link=None,
            now=now,
            currency=self.settings.default_currency,
            timeline=timeline,
        )
        locale = customer.locale if n.audience == "customer" else self.settings.default_locale
        return await self.renderer.render_async(message, channel, locale, context)

    def template_path(
        self, n: Notification, message: str, channel: ChannelName, customer: Customer
    ) -> Path | None:
        """Return the template ``render`` uses for this customer, or None when there is none."""
        locale = customer.locale if n.audience == "customer" else self.settings.default_locale
        return self.renderer.template_path(message, channel, locale)

    def outbound(
        self,
        n: Notification,
        rendered: Rendered,
        channel: ChannelName,
        address: str,
        customer: Customer,
        now: datetime,
    ) -> OutboundMessage:
        """Return the message for the adapter, with unsubscribe link and status callback."""
        s = self.settings
        to_ops = n.audience == "ops"
        unsubscribe = None
        # Start-up refuses email without both outside demo and test mode (link_readiness).
        if channel == "email" and not to_ops and s.public_url and s.secret_key:
            secret = s.secret_key.get_secret_value().encode()
            unsubscribe = unsubscribe_url(s.public_url, secret, customer.id, "email", now)
        session_open = (
            customer.last_whatsapp_inbound_at is not None
            and now - customer.last_whatsapp_inbound_at < WHATSAPP_SESSION
        )
        return OutboundMessage(
            dedupe_key=n.dedupe_key,
            channel=channel,
            to=address,
            text=rendered.text,
            message_name=rendered.message,
            locale=rendered.locale,
            subject=rendered.subject,
            html=rendered.html,
            to_name=None if to_ops else customer.name,
            unsubscribe_url=unsubscribe,
            whatsapp_session_open=session_open,
            content_variables=_content_variables(customer, rendered),
            status_callback=(
                f"{s.public_url.rstrip('/')}/webhooks/twilio/status"
                if s.public_url and channel in ("sms", "whatsapp")
                else None
            ),
        )


def _content_variables(customer: Customer, rendered: Rendered) -> dict[str, str]:
    # An approved WhatsApp template takes numbered variables: 1 the customer's first name,
    # 2 the message as rendered (templates approved as "{{1}}, {{2}}" carry it whole).
    first = (customer.name or "").split(" ")[0]
    return {"1": first, "2": rendered.text}
