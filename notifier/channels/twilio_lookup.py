"""Finding a message at Twilio after a crash: by recipient, sender and creation time.

Twilio's message list filters by To, From and DateSent only. A message still queued at
Twilio has no DateSent yet, so a DateSent filter would hide exactly the message a crash
may have left there: the creation time is matched here, client-side, instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from notifier.channels.base import Receipt


async def find_message(
    messages: Any,
    to: str,
    since: datetime,
    body: str,
    sender: str | None = None,
    service: str | None = None,
) -> Receipt | None:
    """Return the message to ``to`` with ``body`` created at or after ``since``, if any.

    ``messages`` is the SDK's message list of the account. By recipient and sender (the
    From number, or the Messaging Service, which picks the number itself and is matched
    client-side). The list comes newest first; a message sent before ``since`` was
    created before it, and so was every message listed after it: the search stops there.
    Errors are the SDK's: the caller translates them.
    """
    filters: dict[str, Any] = {"to": to}
    if sender and not service:
        filters["from_"] = sender
    async for instance in await messages.stream_async(**filters, page_size=100):
        sent = _instant(instance.date_sent)
        if sent is not None and sent < since:
            break
        created = _instant(instance.date_created)
        if created is not None and created < since:
            continue
        if service and instance.messaging_service_sid != service:
            continue
        if instance.body == body:
            return receipt_of(instance)
    return None


def _instant(value: Any) -> datetime | None:
    """A resource's timestamp as the SDK gives it (a datetime, or its RFC 2822 text)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def receipt_of(instance: Any) -> Receipt:
    """Return our receipt for a Twilio MessageInstance."""
    detail = {"to": str(instance.to or "")}
    if instance.num_segments is not None:
        detail["segments"] = str(instance.num_segments)
    return Receipt(provider_id=str(instance.sid), status=str(instance.status), detail=detail)
