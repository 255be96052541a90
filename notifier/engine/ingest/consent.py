"""Unsubscribe links: whom a link opts out of which channel, and the opt-out itself.

A link is genuine when NOTIFIER_SECRET_KEY signed it, names a known customer, and was
issued after the customer's links were last revoked (``revoke_links``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog

from notifier.channels.unsubscribe import verify_link
from notifier.clock import Clock
from notifier.config import LinkSettings
from notifier.domain.models import ChannelName, Customer
from notifier.engine.ingest.ports import ConsentStore

log = structlog.get_logger("notifier.webhooks")
# invalid: forged, malformed, unknown customer, or no key to check it; revoked: issued before
# the customer's links were revoked (the page answers 404 and 410).
LinkRefusal = Literal["invalid", "revoked"]


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a genuine link names: the customer, and the channel it opts them out of."""

    customer: Customer
    channel: ChannelName


class Consent:
    """Reads and acts on unsubscribe links."""

    def __init__(self, store: ConsentStore, clock: Clock, links: LinkSettings) -> None:
        self.store = store
        self.clock = clock
        self.links = links

    async def resolve(self, token: str) -> Subscription | LinkRefusal:
        """Return whom the link opts out of what, or why it is refused."""
        secret = self.links.secret_key
        if secret is None:
            # Without a key no link was ever issued, so no token can be genuine.
            log.warning("unsubscribe.no_secret", reason="NOTIFIER_SECRET_KEY is not set")
            return "invalid"
        link = verify_link(secret.get_secret_value().encode(), token)
        if link is None:
            log.warning("unsubscribe.bad_token")
            return "invalid"
        customer = await self.store.get_customer(link.customer_id)
        if customer is None:
            log.info("unsubscribe.unknown_customer")
            return "invalid"
        revoked_at = await self.store.links_revoked_at(customer.id)
        # A first-format link has no issue time: it predates any revocation.
        if revoked_at is not None and (link.issued_at is None or link.issued_at <= revoked_at):
            log.info("unsubscribe.revoked_link", customer_id=customer.id, channel=link.channel)
            return "revoked"
        return Subscription(customer, link.channel)

    async def opt_out(self, token: str) -> Subscription | LinkRefusal:
        """Opt the link's customer out of its channel; return whom, or why the link is refused."""
        found = await self.resolve(token)
        if isinstance(found, str):
            return found
        await self.store.set_consent(found.customer.id, found.channel, False, self.clock.now())
        log.info("unsubscribe.done", customer_id=found.customer.id, channel=found.channel)
        return found
