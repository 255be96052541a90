"""What the HTTP fakes share: recording, forced failures, running in-process or standalone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Failure:
    """One forced answer from ``POST /__fail``; ``mode`` is error, slow or drop."""

    status: int = 500
    code: int | None = None
    message: str = "forced failure"
    retry_after: int | None = None
    count: int = 1
    mode: str = "error"
    delay_ms: int = 0


@dataclass
class Recorded:
    """One request as it arrived: what the contract checks are run on."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    content_type: str
    peer: str = ""  # client address and port: shows whether connections are reused

    def as_json(self) -> dict[str, Any]:
        """Return the request as JSON for ``GET /__received``."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "content_type": self.content_type,
            "peer": self.peer,
        }


@dataclass
class FakeHttpServer:
    """An aiohttp app on 127.0.0.1 with the control endpoints every fake offers."""

    latency_ms: int = 0
    requests: list[Recorded] = field(default_factory=list)
    failures: deque[Failure] = field(default_factory=deque)
    # Every ``throttle_every``th send is answered 429 with ``throttle_retry_after`` seconds
    # (0: never), as a provider over its rate would; the throttled sends are counted.
    throttle_every: int = 0
    throttle_retry_after: int = 1
    throttled: int = 0
    _sends: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    # -- subclasses fill these
    def routes(self) -> list[web.RouteDef]:
        """Return the provider's routes."""
        return []

    def received(self) -> dict[str, Any]:
        """Return what ``GET /__received`` shows beyond the raw requests."""
        return {}

    def reset(self) -> None:
        """Forget everything received and every forced failure."""
        self.requests.clear()
        self.failures.clear()
        self._sends = self.throttled = 0

    # -- shared behaviour
    def app(self) -> web.Application:
        """Return the aiohttp application."""
        app = web.Application()
        app.add_routes(
            [
                web.get("/__received", self._received),
                web.post("/__reset", self._reset),
                web.post("/__fail", self._fail),
                *self.routes(),
            ]
        )
        return app

    async def record(self, request: web.Request) -> Recorded:
        """Keep ``request`` and wait the configured latency."""
        body = await request.read()
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=list(request.query.items()),
            headers=dict(request.headers),
            body=body,
            content_type=request.headers.get("Content-Type", ""),
            peer=str(request.transport.get_extra_info("peername") if request.transport else ""),
        )
        self.requests.append(recorded)
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        return recorded

    def throttle_now(self) -> bool:
        """Count one send; True when this one is to be answered 429."""
        self._sends += 1
        if self.throttle_every and self._sends % self.throttle_every == 0:
            self.throttled += 1
            return True
        return False

    def next_failure(self) -> Failure | None:
        """Pop one use of the first forced failure, if any is queued."""
        if not self.failures:
            return None
        failure = self.failures[0]
        failure.count -= 1
        if failure.count <= 0:
            self.failures.popleft()
        return failure

    async def misbehave(self, request: web.Request, failure: Failure) -> web.StreamResponse | None:
        """Act out a slow or dropped answer; return None for a plain error answer."""
        if failure.mode == "slow":
            await asyncio.sleep(failure.delay_ms / 1000 or 30)
            return None
        if failure.mode == "drop":
            # Close the socket without a byte of answer: the client sees a disconnect.
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        return None

    async def _received(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"requests": [r.as_json() for r in self.requests], **self.received()}
        )

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    async def _fail(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.failures.append(Failure(**body))
        return web.json_response({"queued": len(self.failures)})

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (``port`` 0 picks a free one) and return the base URL."""
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # started just above
        self.port = server.sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """The base URL clients are pointed at."""
        return f"http://127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[str]:
        """Serve from a background thread (for code that runs its own event loop)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            url = asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
            ready.set()
            yield url
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


def standalone_args(description: str) -> argparse.ArgumentParser:
    """Return the command-line parser every fake shares (``--port``, ``--latency-ms``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=0)
    return parser


def serve_forever(server: FakeHttpServer, port: int) -> None:
    """Run ``server`` until interrupted, announcing the port on one line."""

    async def main() -> None:
        url = await server.start(port)
        print(f"listening on 127.0.0.1:{server.port}", flush=True)
        del url
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
