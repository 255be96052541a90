"""What a provider said about one message, in our words: at send time and in delivery reports.

Each provider module turns its answers (an HTTP error, a status callback) into an
``Outcome``; ``domain/consequences.py`` alone decides what follows from one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from notifier.domain.errors import one_line
from notifier.domain.models import ChannelName, CustomerId, NotificationId


class OutcomeKind(StrEnum):
    """What happened to a message, small and closed: the history's and the metrics' word."""

    ACCEPTED = "accepted"  # the provider took it (a send-time answer)
    IN_PROGRESS = "in_progress"  # a report on the way there: queued, sending, sent ...
    DELIVERED = "delivered"
    READ = "read"
    TRANSIENT = "transient"  # try again later on the same channel
    # The provider asks us to slow down (HTTP 429 and its kin): nothing is wrong with the
    # message or the recipient; it goes again on the same channel, and is no attempt.
    THROTTLED = "throttled"
    PERMANENT = "permanent"  # this recipient cannot be reached on this channel
    CHANNEL_DOWN = "channel_down"  # our side is broken: bad credentials, sender refused
    UNEXPECTED = "unexpected"  # the adapter raised what no provider table knows


FAILURES = frozenset(
    {OutcomeKind.TRANSIENT, OutcomeKind.PERMANENT, OutcomeKind.CHANNEL_DOWN, OutcomeKind.UNEXPECTED}
)


class Reason(StrEnum):
    """Why a send failed, small and closed: used as a metrics label and in the history."""

    INVALID_ADDRESS = "invalid_address"
    OPTED_OUT = "opted_out"
    NOT_MOBILE = "not_mobile"
    NO_TEMPLATE = "no_template"
    CANNOT_DM = "cannot_dm"
    RECIPIENT_REFUSED = "recipient_refused"
    REJECTED = "rejected"
    UNDELIVERED = "undelivered"  # a delivery report says it never arrived
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    PROVIDER_ERROR = "provider_error"
    TEMPORARY_FAILURE = "temporary_failure"
    AUTH_FAILED = "auth_failed"
    MISCONFIGURED = "misconfigured"
    UNEXPECTED = "unexpected"  # an adapter bug, not a provider's answer


@dataclass(frozen=True, slots=True)
class Outcome:
    """One provider answer about one message.

    ``text`` is the provider's own words (or, for a report, what it reported);
    ``address_dead``: no later message can reach that address on that channel;
    ``opted_out``: the recipient withdrew consent to that channel (Twilio's 21610).
    """

    kind: OutcomeKind
    reason: Reason | None = None
    text: str = ""
    code: str | None = None
    retry_after: timedelta | None = None
    address_dead: bool = False
    opted_out: bool = False
    provider_id: str | None = None
    status: str | None = None  # the provider's own word: queued, delivered, undelivered ...

    @property
    def line(self) -> str:
        """Return ``kind (reason code): text``: how a provider's refusal reads in the history."""
        detail = f" {self.code}" if self.code else ""
        return f"{self.kind} ({self.reason}{detail}): {self.text}"

    @property
    def is_failure(self) -> bool:
        """True when the message did not go (or did not arrive)."""
        return self.kind in FAILURES


def accepted(provider_id: str, status: str) -> Outcome:
    """Return the outcome of a send the provider took, under its id and status."""
    return Outcome(OutcomeKind.ACCEPTED, provider_id=provider_id, status=status)


def unexpected(exc: BaseException) -> Outcome:
    """Return the outcome of an adapter that raised something no provider table knows.

    Nothing says whether the provider took the message before the error.
    """
    return Outcome(OutcomeKind.UNEXPECTED, Reason.UNEXPECTED, one_line(exc))


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What a report changed: the rows it named, and those now waiting for another channel."""

    found: tuple[NotificationId, ...] = ()
    moved_on: tuple[NotificationId, ...] = ()
    delivered: tuple[NotificationId, ...] = ()
    customer_id: CustomerId | None = None
    channel: ChannelName | None = None
    address_failed: bool = False
    opted_out: bool = False
