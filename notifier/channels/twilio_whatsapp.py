"""WhatsApp through Twilio: free-form inside the 24 h session, Content Templates outside it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from notifier.channels.base import OutboundMessage, PermanentError, Reason, Receipt
from notifier.channels.twilio_api import TwilioApi, TwilioCredentials
from notifier.channels.twilio_sms import validity_seconds
from notifier.domain.models import ChannelName

PREFIX = "whatsapp:"
SESSION_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class WhatsAppSettings:
    credentials: TwilioCredentials
    from_number: str
    validity_period: timedelta
    content_sids: Mapping[str, str] = field(default_factory=dict)
    timeout: timedelta = timedelta(seconds=15)


def whatsapp_address(number: str) -> str:
    """Return ``number`` as Twilio's WhatsApp address, adding ``whatsapp:`` when bare."""
    number = number.strip()
    return number if number.startswith(PREFIX) else f"{PREFIX}{number}"


def is_session_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True when the customer wrote on WhatsApp less than 24 hours before ``now``."""
    return last_inbound_at is not None and now - last_inbound_at < SESSION_WINDOW


def content_sid_for(content_sids: Mapping[str, str], message_name: str, locale: str) -> str | None:
    """Return the approved template for a message: ``name.locale``, ``name.lang``, ``name``."""
    language = locale.replace("_", "-").split("-")[0]
    for key in (f"{message_name}.{locale}", f"{message_name}.{language}", message_name):
        if key in content_sids:
            return content_sids[key]
    return None


class TwilioWhatsApp:
    """Sends WhatsApp messages; without a session or a template it fails as Twilio would (63016)."""

    name: ChannelName = "whatsapp"

    def __init__(self, settings: WhatsAppSettings, pool_size: int = 100) -> None:
        self.settings = settings
        self.api = TwilioApi(settings.credentials, settings.timeout, pool_size)

    def params(self, message: OutboundMessage) -> dict[str, Any]:
        """Return the create parameters: a free-form body in session, else the template."""
        params: dict[str, Any] = {
            "to": whatsapp_address(message.to),
            "from_": whatsapp_address(self.settings.from_number),
            "validity_period": validity_seconds(self.settings.validity_period),
        }
        if message.status_callback:
            params["status_callback"] = message.status_callback
        if message.whatsapp_session_open:
            params["body"] = message.text
            return params
        sid = content_sid_for(self.settings.content_sids, message.message_name, message.locale)
        if sid is None:
            # Twilio would refuse it with 63016; failing here spares the request.
            raise PermanentError(
                Reason.NO_TEMPLATE,
                f"no approved Content Template for {message.message_name!r} "
                f"({message.locale}) and the 24 h session is closed",
                "63016",
            )
        params["content_sid"] = sid
        if message.content_variables:
            params["content_variables"] = json.dumps(
                dict(message.content_variables), ensure_ascii=False
            )
        return params

    async def send(self, message: OutboundMessage) -> Receipt:
        """Hand ``message`` to Twilio; raise a SendError subclass when it is not accepted."""
        return await self.api.create(self.params(message))

    async def find_sent(self, to: str, since: datetime, body: str) -> Receipt | None:
        """Return Twilio's record of a message to ``to`` with ``body`` since ``since``, or None."""
        sender = whatsapp_address(self.settings.from_number)
        return await self.api.find(whatsapp_address(to), since, body, sender=sender)

    async def aclose(self) -> None:
        """Close the pooled HTTP connections."""
        await self.api.aclose()
