"""A local X API v2 for direct messages: OAuth 1.0a checked, DMs recorded, errors on demand.

``python -m tests.fakes.x_server --port N [--latency-ms 50]`` runs it standalone.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from oauthlib.oauth1.rfc5849 import signature as oauth_signature

from tests.fakes.http_server import FakeHttpServer, serve_forever, standalone_args

CONSUMER_KEY = "test-consumer-key"
CONSUMER_SECRET = "test-consumer-secret"
ACCESS_TOKEN = "1000-test-access-token"
ACCESS_TOKEN_SECRET = "test-access-token-secret"
APP_BEARER = "AAAA-app-only-bearer"
SIGNED_HOST = "https://api.twitter.com"  # tweepy signs the URL it believes it calls
PROBLEMS = "https://api.twitter.com/2/problems/"

# participant id -> (HTTP status, problem type, detail)
RECIPIENTS: dict[str, tuple[int, str, str]] = {
    "403403": (403, "about:blank", "You are not permitted to send a DM to this user."),
    "429429": (429, "about:blank", "Too Many Requests"),
    "503503": (503, "about:blank", "Service Unavailable"),
}


def problem(status: int, kind: str, detail: str, title: str | None = None) -> dict[str, Any]:
    """Return X's problem JSON."""
    titles = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}
    return {
        "title": title or titles.get(status, "Error"),
        "detail": detail,
        "type": kind,
        "status": status,
    }


@dataclass
class XFake(FakeHttpServer):
    """Sends DMs as X would, for the configured user-context credentials only."""

    consumer_key: str = CONSUMER_KEY
    consumer_secret: str = CONSUMER_SECRET
    access_token: str = ACCESS_TOKEN
    access_token_secret: str = ACCESS_TOKEN_SECRET
    app_bearer: str = APP_BEARER
    user_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    client_id: str = "test-client-id"
    recipients: dict[str, tuple[int, str, str]] = field(default_factory=lambda: dict(RECIPIENTS))
    sent: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1_000_000))

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/2/dm_conversations/with/{participant_id}/messages", self.send_dm),
            web.post("/2/oauth2/token", self.token),
        ]

    def received(self) -> dict[str, Any]:
        return {"sent": self.sent}

    def reset(self) -> None:
        super().reset()
        self.sent.clear()

    def _refusal(self, request: web.Request, recorded_path: str) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header.removeprefix("Bearer ")
            if token in self.user_tokens:
                return None
            if token == self.app_bearer:
                return web.json_response(
                    problem(
                        403,
                        PROBLEMS + "unsupported-authentication",
                        "Authenticating with OAuth 2.0 Application-Only is forbidden for this "
                        "endpoint.  Supported authentication types are [OAuth 1.0a User Context,"
                        " OAuth 2.0 User Context].",
                        "Unsupported Authentication",
                    ),
                    status=403,
                )
            return _unauthorized()
        if header.startswith("OAuth ") and self._signed(request, header, recorded_path):
            return None
        return _unauthorized()

    def _signed(self, request: web.Request, header: str, path: str) -> bool:
        params = dict(
            oauth_signature.collect_parameters(
                headers={"Authorization": header}, exclude_oauth_signature=False
            )
        )
        if params.get("oauth_consumer_key") != self.consumer_key:
            return False
        if params.get("oauth_token") != self.access_token:
            return False
        if params.get("oauth_signature_method") != "HMAC-SHA1":
            return False
        collected = oauth_signature.collect_parameters(
            uri_query=request.query_string, headers={"Authorization": header}
        )
        base = oauth_signature.signature_base_string(
            request.method,
            oauth_signature.base_string_uri(SIGNED_HOST + path),
            oauth_signature.normalize_parameters(collected),
        )
        expected = oauth_signature.sign_hmac_sha1_with_client(base, _Secrets(self))
        return unquote(params.get("oauth_signature", "")) == expected

    async def send_dm(self, request: web.Request) -> web.StreamResponse:
        """POST /2/dm_conversations/with/{participant_id}/messages."""
        recorded = await self.record(request)
        if (refused := self._refusal(request, request.path)) is not None:
            return refused
        if (failure := self.next_failure()) is not None:
            await self.misbehave(request, failure)
            return _answer(failure.status, failure.message, failure.retry_after)
        if self.throttle_now():
            return _answer(429, "Too Many Requests", self.throttle_retry_after)
        participant = request.match_info["participant_id"]
        try:
            body = json.loads(recorded.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not (body.get("text") or body.get("attachments")):
            return web.json_response(
                problem(400, PROBLEMS + "invalid-request", "text or attachments is required"),
                status=400,
            )
        if participant in self.recipients:
            status, kind, detail = self.recipients[participant]
            return _answer(status, detail, 60 if status == 429 else None, kind)
        event_id = str(next(self._ids))
        sender = self.access_token.partition("-")[0]
        data = {"dm_conversation_id": f"{sender}-{participant}", "dm_event_id": event_id}
        self.sent.append({"participant_id": participant, "text": body.get("text"), **data})
        return web.json_response({"data": data}, status=201)

    async def token(self, request: web.Request) -> web.StreamResponse:
        """POST /2/oauth2/token with grant_type=refresh_token: a new user token, rotated refresh."""
        await self.record(request)
        form = await request.post()
        refresh = str(form.get("refresh_token", ""))
        if form.get("grant_type") != "refresh_token" or refresh not in self.refresh_tokens:
            return web.json_response(
                {
                    "error": "invalid_request",
                    "error_description": "Value passed for the token was invalid.",
                },
                status=400,
            )
        self.refresh_tokens.discard(refresh)
        number = next(self._ids)
        access, new_refresh = f"user-token-{number}", f"refresh-{number}"
        self.user_tokens.add(access)
        self.refresh_tokens.add(new_refresh)
        return web.json_response(
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": access,
                "scope": "dm.write dm.read tweet.read users.read offline.access",
                "refresh_token": new_refresh,
            }
        )


class _Secrets:
    """The two secrets oauthlib's signer reads from a client object."""

    def __init__(self, fake: XFake) -> None:
        self.client_secret = fake.consumer_secret
        self.resource_owner_secret = fake.access_token_secret


def _unauthorized() -> web.Response:
    return web.json_response(problem(401, "about:blank", "Unauthorized"), status=401)


def _answer(
    status: int, detail: str, reset_in: int | None, kind: str = "about:blank"
) -> web.Response:
    headers = {}
    if status == 429:
        headers["x-rate-limit-reset"] = str(int(time.time()) + (reset_in or 60))
        headers["x-rate-limit-remaining"] = "0"
    return web.json_response(problem(status, kind, detail), status=status, headers=headers)


def main() -> None:
    """Run the fake standalone."""
    args = standalone_args("A local X API v2 for direct messages").parse_args()
    serve_forever(XFake(latency_ms=args.latency_ms), args.port)


if __name__ == "__main__":
    main()
