"""What every channel adapter shares: the protocol, the message, the receipt, the errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from notifier.domain.errors import NotifierError
from notifier.domain.models import ChannelName
from notifier.domain.outcomes import Outcome, OutcomeKind, Reason

__all__ = [
    "Channel", "ChannelDownError", "OutboundMessage", "PermanentError", "Reason", "Receipt",
    "SendError", "TransientError", "error_for",
]  # fmt: skip


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


class SendError(NotifierError):
    """A send that did not go through; the subclass says what to do next.

    ``outcome`` is the same answer as a domain value: what the dispatcher decides on.
    """

    kind = OutcomeKind.UNEXPECTED

    def __init__(self, reason: Reason, provider_message: str, code: str | None = None) -> None:
        self._set(Outcome(self.kind, reason, provider_message, code))

    def _set(self, outcome: Outcome) -> None:
        super().__init__(outcome.line)
        self.outcome = outcome
        self.reason = reason_of(outcome)
        self.code = outcome.code
        self.provider_message = outcome.text


class TransientError(SendError):
    """Retry later on the same channel, no sooner than ``retry_after`` when the provider said."""

    kind = OutcomeKind.TRANSIENT

    def __init__(
        self,
        reason: Reason,
        provider_message: str,
        code: str | None = None,
        retry_after: timedelta | None = None,
    ) -> None:
        self._set(Outcome(self.kind, reason, provider_message, code, retry_after))
        self.retry_after = retry_after


class ThrottledError(TransientError):
    """The provider asks us to slow down (HTTP 429 and its kin): no fault of the message.

    Retried on the same channel once ``retry_after`` has passed, without counting as an
    attempt; the channel's sender pauses as long.
    """

    kind = OutcomeKind.THROTTLED


class PermanentError(SendError):
    """This recipient cannot be reached on this channel: try the next one.

    ``address_failed`` is set when the address itself is dead (no such number, a
    landline, a mailbox the server refuses), so later notifications skip it;
    ``opted_out`` when the recipient withdrew consent to the channel (Twilio's 21610).
    """

    kind = OutcomeKind.PERMANENT

    def __init__(
        self,
        reason: Reason,
        provider_message: str,
        code: str | None = None,
        address_failed: bool = False,
        opted_out: bool = False,
    ) -> None:
        outcome = Outcome(self.kind, reason, provider_message, code,
                          address_dead=address_failed, opted_out=opted_out)  # fmt: skip
        self._set(outcome)
        self.address_failed = address_failed
        self.opted_out = opted_out


class ChannelDownError(SendError):
    """Our side is broken (bad credentials, sender refused): pause the channel, alert ops."""

    kind = OutcomeKind.CHANNEL_DOWN


def reason_of(outcome: Outcome) -> Reason:
    """Return why ``outcome`` failed; a failure always has a reason."""
    if outcome.reason is None:
        raise ValueError(f"a {outcome.kind} outcome without a reason")
    return outcome.reason


def error_for(outcome: Outcome) -> SendError:
    """Return the error an adapter raises for a failed send-time ``outcome``."""
    o, reason = outcome, reason_of(outcome)
    if o.kind is OutcomeKind.TRANSIENT:
        return TransientError(reason, o.text, o.code, o.retry_after)
    if o.kind is OutcomeKind.THROTTLED:
        return ThrottledError(reason, o.text, o.code, o.retry_after)
    if o.kind is OutcomeKind.PERMANENT:
        return PermanentError(reason, o.text, o.code, o.address_dead, o.opted_out)
    if o.kind is OutcomeKind.CHANNEL_DOWN:
        return ChannelDownError(reason, o.text, o.code)
    raise ValueError(f"a {o.kind} outcome is not a send error")


class Channel(Protocol):
    """One provider behind one interface; only SendError subclasses leave ``send``."""

    name: ChannelName

    async def send(self, message: OutboundMessage) -> Receipt: ...

    async def aclose(self) -> None: ...
