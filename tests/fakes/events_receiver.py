"""A CRM's events endpoint on 127.0.0.1: checks every signature, fails on demand, goes down.

Its check is written out as a receiver would, from docs/operations.md ("Outbound events"),
not borrowed from notifier's code, so a wrong signature on our side cannot pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOLERANCE = 300  # seconds: older signatures are replays


def verify(secret: str, body: bytes, header: str, now: float) -> bool:
    """The docs' receiver check: t within 5 minutes, v1 the HMAC of "t.body"."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if not parts.get("t", "").isdigit() or abs(now - int(parts["t"])) > TOLERANCE:
        return False
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass
class EventsReceiver:
    secret: str
    fail_every: int = 0  # every nth request is answered 500 (0: never)
    refuse: set[tuple[str, int]] = field(default_factory=set)  # (stream, sequence): 422
    latency: float = 0.0  # seconds each answer takes
    slow: dict[str, float] = field(default_factory=dict)  # stream: seconds its answers take
    accepted: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    forged: int = 0  # requests whose signature or timestamp did not check out
    overlaps: int = 0  # a request for a stream while another of it was in flight
    port: int = 0
    _in_flight: dict[str, int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/crm/events"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/crm/events", self._post)
        # A hanging answer (``latency``) is cut short at the end, not waited for.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        if not self.port:
            server = self._site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def down(self) -> None:
        """Stop listening: connections are refused until ``up``."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def up(self) -> None:
        await self._listen()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests += 1
        if not verify(self.secret, body, request.headers.get("X-Notifier-Signature", ""),
                      time.time()):  # fmt: skip
            self.forged += 1
            return web.Response(status=401)
        event = json.loads(body)
        stream = event["stream"]
        self._in_flight[stream] = self._in_flight.get(stream, 0) + 1
        try:
            if self._in_flight[stream] > 1:
                self.overlaps += 1
            if self.latency or stream in self.slow:
                await asyncio.sleep(self.slow.get(stream, self.latency))
            if (stream, event["sequence"]) in self.refuse:
                return web.Response(status=422, text="unknown promise")
            if self.fail_every and self.requests % self.fail_every == 0:
                return web.Response(status=500, text="try later")
            self.accepted.append(event)
            return web.Response(status=204)
        finally:
            self._in_flight[stream] -= 1

    def ids(self) -> list[str]:
        return [e["id"] for e in self.accepted]

    def sequences(self) -> dict[str, list[int]]:
        """Each stream's sequences in the order they were accepted."""
        found: dict[str, list[int]] = {}
        for e in self.accepted:
            found.setdefault(e["stream"], []).append(e["sequence"])
        return found
