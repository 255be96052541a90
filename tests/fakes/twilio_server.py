"""A local Twilio Messages API: the 2010-04-01 paths, form bodies, JSON resources and errors.

``python -m tests.fakes.twilio_server --port N [--latency-ms 50]`` runs it standalone.
"""

from __future__ import annotations

import base64
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.http_server import FakeHttpServer, serve_forever, standalone_args

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token"
BASE = "/2010-04-01/Accounts/{account}"

# Twilio's magic test numbers, and a few of ours: recipient -> (HTTP status, code, text).
RECIPIENTS: dict[str, tuple[int, int, str]] = {
    "+15005550001": (400, 21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550004": (
        400,
        21610,
        "Attempt to send to unsubscribed recipient",
    ),
    "+15005550009": (400, 21614, "'To' number is not a valid mobile number"),
    "whatsapp:+15005550016": (
        400,
        63016,
        "Failed to send freeform message because you are outside the allowed window.",
    ),
    "+15005550429": (429, 20429, "Too Many Requests"),
    "+15005550500": (500, 20500, "Internal Server Error"),
}


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Return Twilio's error JSON."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class TwilioFake(FakeHttpServer):
    """Accepts, records and lists messages as Twilio would; fails when told to."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    recipients: dict[str, tuple[int, int, str]] = field(default_factory=lambda: dict(RECIPIENTS))
    messages: list[dict[str, Any]] = field(default_factory=list)
    # True: accepted messages stay ``queued`` (date_sent null), as when Twilio's queue is
    # long; the list still returns them, as Twilio's does, unless filtered by DateSent.
    hold_queued: bool = False
    # When each accepted message's request arrived (time.monotonic(), in step with messages).
    arrived: list[float] = field(default_factory=list)
    _sids: Any = field(default_factory=lambda: itertools.count(1))

    def routes(self) -> list[web.RouteDef]:
        base = BASE.format(account="{account}")
        return [
            web.post(f"{base}/Messages.json", self.create),
            web.get(f"{base}/Messages.json", self.list),
            web.get(base + "/Messages/{sid}.json", self.fetch),
        ]

    def received(self) -> dict[str, Any]:
        return {"messages": self.messages}

    def reset(self) -> None:
        super().reset()
        self.messages.clear()
        self.arrived.clear()
        self.hold_queued = False

    def _refusal(self, request: web.Request) -> web.Response | None:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return _error(401, 20003, "Authentication Error - invalid username")
        if request.match_info["account"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        return None

    async def _gate(self, request: web.Request) -> web.StreamResponse | None:
        """Record the request; answer it now when refused or when a failure is queued."""
        await self.record(request)
        if (refused := self._refusal(request)) is not None:
            return refused
        if (failure := self.next_failure()) is not None:
            await self.misbehave(request, failure)
            return _error(failure.status, failure.code, failure.message, failure.retry_after)
        return None

    async def create(self, request: web.Request) -> web.StreamResponse:
        """POST .../Messages.json: the form becomes a queued message resource."""
        arrived = time.monotonic()
        if (answered := await self._gate(request)) is not None:
            return answered
        if self.throttle_now():
            return _error(429, 20429, "Too Many Requests", self.throttle_retry_after)
        form = await request.post()
        to = str(form.get("To", ""))
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Body") or form.get("ContentSid")):
            return _error(400, 21602, "Message body is required.")
        if to in self.recipients:
            status, code, text = self.recipients[to]
            retry = 1 if status == 429 else None
            return _error(status, code, text, retry)
        message = self._message(form, to)
        self.messages.append(message)
        self.arrived.append(arrived)
        answer = web.json_response(message, status=201)
        # What Twilio returned was queued; what it stores moves on at once here, unless held.
        if not self.hold_queued:
            self.messages[-1] = {**message, "status": "sent", "date_sent": message["date_created"]}
        return answer

    def _message(self, form: Any, to: str) -> dict[str, Any]:
        sid = f"SM{next(self._sids):032x}"
        now = format_datetime(datetime.now(UTC), usegmt=True)
        body = str(form.get("Body") or f"[content {form.get('ContentSid')}]")
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or None,
            "messaging_service_sid": form.get("MessagingServiceSid") or None,
            "num_media": "0",
            "num_segments": str(max(1, -(-len(body) // 153))),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "subresource_uris": {
                "media": f"{BASE.format(account=self.account_sid)}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"{BASE.format(account=self.account_sid)}/Messages/{sid}.json",
            # Not part of the resource: kept so the tests can see every parameter sent.
            "_form": {key: str(value) for key, value in form.items()},
        }

    async def list(self, request: web.Request) -> web.StreamResponse:
        """GET .../Messages.json: To, From and DateSent filters, Page/PageSize paging.

        Newest first; a message without a DateSent (queued) matches no DateSent filter.
        """
        if (answered := await self._gate(request)) is not None:
            return answered
        q = request.query
        found = [m for m in reversed(self.messages) if _matches(m, q)]
        size = min(int(q.get("PageSize", 50)), 1000)
        page = int(q.get("Page", 0))
        chunk = found[page * size : (page + 1) * size]
        uri = request.path

        def page_uri(number: int) -> str:
            params = [(k, v) for k, v in q.items() if k not in ("Page", "PageToken")]
            params += [("Page", str(number)), ("PageToken", f"PA{number}")]
            return f"{uri}?{urlencode(params)}"

        more = (page + 1) * size < len(found)
        return web.json_response(
            {
                "messages": [_public(m) for m in chunk],
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": page_uri(page - 1) if page else None,
                "start": page * size,
                "uri": f"{uri}?{request.query_string}",
            }
        )

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        """GET .../Messages/{Sid}.json."""
        await self.record(request)
        if (refused := self._refusal(request)) is not None:
            return refused
        for message in self.messages:
            if message["sid"] == request.match_info["sid"]:
                return web.json_response(_public(message))
        return _error(404, 20404, "The requested resource was not found")

    def forms(self) -> list[dict[str, str]]:
        """Return the form of every message accepted, in order."""
        return [dict(m["_form"]) for m in self.messages]


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _matches(message: dict[str, Any], q: Any) -> bool:
    if "To" in q and message["to"] != q["To"]:
        return False
    if "From" in q and message["from"] != q["From"]:
        return False
    sent = message["date_sent"]
    for key, test in (("DateSent>", "ge"), ("DateSent<", "le"), ("DateSent", "eq")):
        if key not in q:
            continue
        if sent is None:
            return False
        if not _compare(_rfc2822(sent), q[key], test):
            return False
    return True


def _rfc2822(text: str) -> datetime:
    return parsedate_to_datetime(text)


def _compare(sent: datetime, bound: str, test: str) -> bool:
    # Twilio takes a day (YYYY-MM-DD) or an instant (YYYY-MM-DDTHH:MM:SSZ).
    left: date | datetime
    right: date | datetime
    if "T" in bound:
        left, right = sent, datetime.fromisoformat(bound.replace("Z", "+00:00"))
    else:
        left, right = sent.date(), date.fromisoformat(bound)
    if test == "ge":
        return left >= right
    if test == "le":
        return left <= right
    return left == right


def _error(
    status: int, code: int | None, message: str, retry_after: int | None = None
) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return web.json_response(
        error_body(status, code if code is not None else status, message),
        status=status,
        headers=headers,
    )


def main() -> None:
    """Run the fake standalone."""
    parser = standalone_args("A local Twilio Messages API")
    parser.add_argument("--account-sid", default=ACCOUNT_SID)
    parser.add_argument("--auth-token", default=AUTH_TOKEN)
    args = parser.parse_args()
    fake = TwilioFake(
        latency_ms=args.latency_ms, account_sid=args.account_sid, auth_token=args.auth_token
    )
    serve_forever(fake, args.port)


if __name__ == "__main__":
    main()
