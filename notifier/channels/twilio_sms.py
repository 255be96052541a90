"""SMS through Twilio's Messages API, with the official SDK's async client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from notifier.channels.base import OutboundMessage, Receipt
from notifier.channels.twilio_api import TwilioApi, TwilioCredentials
from notifier.domain.models import ChannelName

# Twilio accepts a ValidityPeriod of 1 to 36,000 seconds.
MAX_VALIDITY = timedelta(seconds=36_000)


@dataclass(frozen=True, slots=True)
class SmsSettings:
    credentials: TwilioCredentials
    from_number: str | None
    messaging_service_sid: str | None
    validity_period: timedelta
    timeout: timedelta = timedelta(seconds=15)

    def sender(self) -> str:
        """Return what ops see as the sender: the Messaging Service or the number."""
        if self.messaging_service_sid:
            return f"messaging service {self.messaging_service_sid}"
        return self.from_number or ""


def validity_seconds(period: timedelta) -> int:
    """Return ``period`` as Twilio's ValidityPeriod, clamped to what Twilio accepts."""
    return max(1, min(int(period.total_seconds()), int(MAX_VALIDITY.total_seconds())))


class TwilioSms:
    """Sends SMS; a message stuck in Twilio's queue past the validity period expires."""

    name: ChannelName = "sms"

    def __init__(self, settings: SmsSettings, pool_size: int = 100) -> None:
        self.settings = settings
        self.api = TwilioApi(settings.credentials, settings.timeout, pool_size)

    def params(self, message: OutboundMessage) -> dict[str, Any]:
        """Return the Messages API create parameters for ``message``."""
        params: dict[str, Any] = {
            "to": message.to,
            "body": message.text,
            "validity_period": validity_seconds(self.settings.validity_period),
        }
        # A Messaging Service picks the sender from its pool and wins over a From number.
        if self.settings.messaging_service_sid:
            params["messaging_service_sid"] = self.settings.messaging_service_sid
        else:
            params["from_"] = self.settings.from_number
        if message.status_callback:
            params["status_callback"] = message.status_callback
        return params

    async def send(self, message: OutboundMessage) -> Receipt:
        """Hand ``message`` to Twilio; raise a SendError subclass when it is not accepted."""
        return await self.api.create(self.params(message))

    async def find_sent(self, to: str, since: datetime, body: str) -> Receipt | None:
        """Return Twilio's record of an SMS to ``to`` with ``body`` since ``since``, or None.

        Queued at Twilio counts: created since ``since``, from our number or service.
        """
        s = self.settings
        return await self.api.find(
            to, since, body, sender=s.from_number, service=s.messaging_service_sid
        )

    async def aclose(self) -> None:
        """Close the pooled HTTP connections."""
        await self.api.aclose()
