"""What every channel adapter shares: the protocol, the message, the receipt, the errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from notifier.domain.errors import NotifierError
from notifier.domain.models import ChannelName


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One rendered message for one address on one channel."""

    dedupe_key: str  # the email Message-ID derives from it, so a resend is recognisable
    channel: ChannelName
    to: str  # E.164 phone, WhatsApp number (bare or whatsapp:+...), email address or X user id
    text: str  # the body (sms, whatsapp, x) or the email's plain-text part
    message_name: str  # template name: maps WhatsApp messages to Content Templates
    locale: str
    subject: str | None = None
    html: str | None = None
    to_name: str | None = None
    unsubscribe_url: str | None = None
    whatsapp_session_open: bool = False  # the customer wrote on WhatsApp in the last 24 h
    content_variables: Mapping[str, str] = field(default_factory=dict)
    status_callback: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The provider's acknowledgement: its id for the message and the status it reported."""

    provider_id: str
    status: str
    detail: Mapping[str, str] = field(default_factory=dict)


class Reason(StrEnum):
    """Why a send failed, small and closed: used as a metrics label and in the history."""

    INVALID_ADDRESS = "invalid_address"
    OPTED_OUT = "opted_out"
    NOT_MOBILE = "not_mobile"
    NO_TEMPLATE = "no_template"
    CANNOT_DM = "cannot_dm"
    RECIPIENT_REFUSED = "recipient_refused"
    REJECTED = "rejected"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    PROVIDER_ERROR = "provider_error"
    TEMPORARY_FAILURE = "temporary_failure"
    AUTH_FAILED = "auth_failed"
    MISCONFIGURED = "misconfigured"


class SendError(NotifierError):
    """A send that did not go through; the subclass says what to do next."""

    kind = "error"

    def __init__(self, reason: Reason, provider_message: str, code: str | None = None) -> None:
        detail = f" {code}" if code else ""
        super().__init__(f"{self.kind} ({reason}{detail}): {provider_message}")
        self.reason = reason
        self.code = code
        self.provider_message = provider_message


class TransientError(SendError):
    """Retry later on the same channel, no sooner than ``retry_after`` when the provider said."""

    kind = "transient"

    def __init__(
        self,
        reason: Reason,
        provider_message: str,
        code: str | None = None,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(reason, provider_message, code)
        self.retry_after = retry_after


class PermanentError(SendError):
    """This recipient cannot be reached on this channel: try the next one.

    ``address_failed`` is set when the address itself is dead (no such number, a
    landline, a mailbox the server refuses), so later notifications skip it.
    """

    kind = "permanent"

    def __init__(
        self,
        reason: Reason,
        provider_message: str,
        code: str | None = None,
        address_failed: bool = False,
    ) -> None:
        super().__init__(reason, provider_message, code)
        self.address_failed = address_failed


class ChannelDownError(SendError):
    """Our side is broken (bad credentials, sender refused): pause the channel, alert ops."""

    kind = "channel_down"


class Channel(Protocol):
    """One provider behind one interface; only SendError subclasses leave ``send``."""

    name: ChannelName

    async def send(self, message: OutboundMessage) -> Receipt: ...

    async def aclose(self) -> None: ...
