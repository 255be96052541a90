"""The Twilio Messages API as both Twilio channels use it: one pooled client, one code table.

The table classifies send-time answers and status callbacks alike.
"""

from __future__ import annotations

import base64
import contextvars
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from notifier.channels.base import (
    PermanentError,
    Receipt,
    SendError,
    TransientError,
    error_for,
)
from notifier.channels.twilio_lookup import find_message, receipt_of
from notifier.domain.outcomes import Outcome, OutcomeKind, Reason

TWILIO_API = "https://api.twilio.com"


@dataclass(frozen=True, slots=True)
class TwilioCode:
    """What one Twilio error code means, at send time and in a status callback.

    ``kind`` decides a send-time answer whatever its HTTP status; None leaves it to the
    status. A failed status callback is always permanent for its message.
    """

    meaning: str
    reason: Reason
    kind: OutcomeKind | None = None
    address_dead: bool = False  # no later message can reach that address on that channel
    opted_out: bool = False  # the recipient withdrew consent to the channel


_PERMANENT, _TRANSIENT = OutcomeKind.PERMANENT, OutcomeKind.TRANSIENT
_DOWN, _THROTTLED = OutcomeKind.CHANNEL_DOWN, OutcomeKind.THROTTLED
# The one table of Twilio codes. Any other 4xx is a plain permanent failure.
CODES: Mapping[int, TwilioCode] = {
    20003: TwilioCode("authentication failed", Reason.AUTH_FAILED, _DOWN),
    # Throttling, whatever the HTTP status: slow down and send the same message again.
    20429: TwilioCode("too many concurrent requests", Reason.RATE_LIMITED, _THROTTLED),
    14107: TwilioCode("message rate limit exceeded", Reason.RATE_LIMITED, _THROTTLED),
    21211: TwilioCode("not a valid phone number", Reason.INVALID_ADDRESS, _PERMANENT,
                      address_dead=True),
    # 21614 means a landline: no retry or later attempt can reach it by SMS.
    21614: TwilioCode("not a mobile number", Reason.NOT_MOBILE, _PERMANENT, address_dead=True),
    # The recipient sent STOP; START lifts it. Either way Twilio tells us, so it is recorded.
    21610: TwilioCode("the recipient unsubscribed (STOP)", Reason.OPTED_OUT, _PERMANENT,
                      opted_out=True),
    # Free-form WhatsApp outside the 24 h session.
    63016: TwilioCode("outside the WhatsApp 24 h window", Reason.NO_TEMPLATE, _PERMANENT),
    # Seen in status callbacks, so the timeline says more than a number.
    30003: TwilioCode("handset unreachable", Reason.UNDELIVERED),
    30004: TwilioCode("message blocked", Reason.UNDELIVERED),
    30005: TwilioCode("unknown handset", Reason.UNDELIVERED),
    30006: TwilioCode("landline or unreachable carrier", Reason.UNDELIVERED),
    30007: TwilioCode("filtered by the carrier", Reason.UNDELIVERED),
    30008: TwilioCode("unknown error", Reason.UNDELIVERED),
}  # fmt: skip
_ARRIVED = {"delivered": OutcomeKind.DELIVERED, "read": OutcomeKind.READ}
_FAILED = frozenset({"undelivered", "failed"})

# The response headers of the request this task made last: TwilioRestException does not
# carry them, and Retry-After lives there. A ContextVar is per task, so it is safe under
# many concurrent sends.
_last_headers: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "twilio_last_headers", default=None
)


@dataclass(frozen=True, slots=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str
    base_url: str | None = None


def status_callback_url(public_url: str) -> str:
    """Return where Twilio posts delivery status for our messages."""
    return f"{public_url.rstrip('/')}/webhooks/twilio/status"


def answer_outcome(
    status: int, code: int | None, message: str, retry_after: timedelta | None = None
) -> Outcome:
    """Return what a Twilio error answer (HTTP status, Twilio code) means for us."""
    text = message or f"HTTP {status}"
    code_text = str(code) if code is not None else None
    known = CODES.get(code) if code is not None else None
    kind = known.kind if known is not None else None
    if status == 401 or kind is _DOWN:
        return Outcome(_DOWN, Reason.AUTH_FAILED, text, code_text)
    if known is not None and kind is _PERMANENT:
        return Outcome(_PERMANENT, known.reason, text, code_text,
                       address_dead=known.address_dead, opted_out=known.opted_out)  # fmt: skip
    if status == 429 or kind is _THROTTLED:
        return Outcome(_THROTTLED, Reason.RATE_LIMITED, text, code_text, retry_after)
    if status >= 500:
        return Outcome(_TRANSIENT, Reason.PROVIDER_ERROR, text, code_text, retry_after)
    return Outcome(_PERMANENT, Reason.REJECTED, text, code_text)


def classify(
    status: int, code: int | None, message: str, retry_after: timedelta | None = None
) -> SendError:
    """Return the error a Twilio answer (HTTP status, Twilio code) is raised as."""
    return error_for(answer_outcome(status, code, message, retry_after))


def report_outcome(provider_id: str, status: str, error_code: str | None) -> Outcome:
    """Return what a status callback (MessageStatus, ErrorCode) says about a message."""
    status, code = status.lower(), error_code or None
    if status in _ARRIVED:
        return Outcome(_ARRIVED[status], code=code, provider_id=provider_id, status=status)
    if status not in _FAILED:
        return Outcome(OutcomeKind.IN_PROGRESS, code=code, provider_id=provider_id, status=status)
    known = CODES.get(int(code)) if code is not None and code.isdigit() else None
    meaning = known.meaning if known is not None else "no reason given"
    text = f"Twilio reports {status}" + (f" ({code}: {meaning})" if code else "")
    return Outcome(
        _PERMANENT, known.reason if known is not None else Reason.UNDELIVERED, text, code,
        address_dead=known is not None and known.address_dead,
        opted_out=known is not None and known.opted_out, provider_id=provider_id, status=status,
    )  # fmt: skip


RETRY_AFTER_MAX_SECONDS = 7 * 86400


def parse_retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """Return the wait a Retry-After header asks for (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():  # a week at most: past it a timedelta overflows, and nobody waits
        return timedelta(seconds=min(int(value), RETRY_AFTER_MAX_SECONDS))
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    return max(at - (now or datetime.now(UTC)), timedelta(0))


class _PooledHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's async client with a bounded pool, a real timeout, and the headers kept."""

    def __init__(self, timeout: timedelta, pool_size: int) -> None:
        super().__init__(pool_connections=False, timeout=timeout.total_seconds())
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size),
            timeout=aiohttp.ClientTimeout(total=timeout.total_seconds()),
        )

    async def request(self, *args: Any, **kwargs: Any) -> Response:
        if kwargs.get("timeout") is None:
            # the SDK passes None, which aiohttp reads as "wait forever"
            kwargs["timeout"] = self.timeout
        auth = kwargs.pop("auth", None)
        if auth is not None:
            # aiohttp deprecates auth=; the same Basic header, set directly.
            headers = dict(kwargs.get("headers") or {})
            headers["Authorization"] = basic_auth(auth[0], auth[1])
            kwargs["headers"] = headers
        response: Response = await super().request(*args, **kwargs)
        _last_headers.set(dict(response.headers or {}))
        return response


class TwilioApi:
    """One Twilio client per channel, created inside the running loop and reused."""

    def __init__(
        self, credentials: TwilioCredentials, timeout: timedelta, pool_size: int = 100
    ) -> None:
        self.credentials = credentials
        self._timeout = timeout
        self._pool_size = pool_size
        self._client: Client | None = None
        self._http: _PooledHttpClient | None = None

    def _messages(self) -> Any:
        if self._client is None:
            self._http = _PooledHttpClient(self._timeout, self._pool_size)
            # environment={} keeps TWILIO_EDGE/TWILIO_REGION out: they garble a local URL.
            self._client = Client(
                self.credentials.account_sid,
                self.credentials.auth_token,
                http_client=self._http,
                environment={},
            )
            self._client.api.base_url = (self.credentials.base_url or TWILIO_API).rstrip("/")
        return self._client.api.v2010.accounts(self.credentials.account_sid).messages

    async def create(self, params: Mapping[str, Any]) -> Receipt:
        """Create a message; every failure comes back as one of our SendErrors."""
        messages = self._messages()
        try:
            instance = await messages.create_async(**params)
        except Exception as exc:
            raise self._translate(exc) from None
        return receipt_of(instance)

    async def find(
        self,
        to: str,
        since: datetime,
        body: str,
        *,
        sender: str | None = None,
        service: str | None = None,
    ) -> Receipt | None:
        """Return the message to ``to`` with ``body`` created at or after ``since``, if any.

        By recipient and sender (the From number, or the Messaging Service, which picks
        the number itself), and by creation time, client-side: a message still queued at
        Twilio has no DateSent, and a DateSent filter would hide it. The list comes
        newest first; a message sent before ``since`` was created before it, and so is
        every message after it: the search stops there.
        """
        try:
            return await find_message(self._messages(), to, since, body, sender, service)
        except Exception as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: Exception) -> SendError:
        if isinstance(exc, TwilioRestException):
            headers = _last_headers.get() or {}
            retry = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
            code = exc.code if isinstance(exc.code, int) else None
            return classify(exc.status, code, _provider_text(exc), retry)
        if isinstance(exc, TimeoutError):
            return TransientError(Reason.TIMEOUT, "no answer from Twilio in time")
        if isinstance(exc, aiohttp.ClientError | OSError):
            return TransientError(Reason.CONNECTION, f"{type(exc).__name__}: {exc}")
        if isinstance(exc, TwilioException):
            page = _failed_page(exc)  # a list page's error answer: classified like any other
            if page is not None:
                return page
            return PermanentError(Reason.REJECTED, str(exc))
        if isinstance(exc, SendError):
            return exc
        # An SDK failure we do not know (malformed JSON, say): retrying may help.
        return TransientError(Reason.PROVIDER_ERROR, f"{type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        """Close the pooled HTTP connections."""
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None


def _failed_page(exc: TwilioException) -> SendError | None:
    """The error a list page answered, which the SDK raises as a bare TwilioException."""
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return None
    try:
        body = json.loads(getattr(response, "text", "") or "{}")
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = body.get("code") if isinstance(body.get("code"), int) else None
    headers = getattr(response, "headers", None) or _last_headers.get() or {}
    retry = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
    return classify(status, code, str(body.get("message") or f"HTTP {status}"), retry)


def _provider_text(exc: TwilioRestException) -> str:
    # The SDK prefixes "Unable to create record: "; the provider's own text follows it.
    message = str(exc.msg)
    return message.partition(": ")[2] or message


def basic_auth(user: str, password: str) -> str:
    """Return the HTTP Basic Authorization header value for ``user`` and ``password``."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
