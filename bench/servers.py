"""The provider fakes as the benchmarks run them: in their own process, counting arrivals.

    python -m bench.servers twilio --latency-ms 50
    python -m bench.servers smtp --latency-ms 50

They are the test fakes (``tests/fakes``) plus what a benchmark needs and the tests do
not: a cheap ``GET /__count``, each recipient's arrival time (``GET /__arrivals``) for the
latency figure, and, for SMTP, an added latency before the answer to DATA. The first line
printed is ``listening on 127.0.0.1:PORT control CONTROL_PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

from aiohttp import web

from notifier.templates.segments import count_segments
from tests.fakes.smtp_server import SmtpFake
from tests.fakes.twilio_server import TwilioFake


class Arrivals:
    """Accepted messages: how many, and when each recipient's first one arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.first: dict[str, float] = {}
        self.costs: dict[str, float] = {}  # each recipient's message's cost (SMS: segments)
        self._lock = threading.Lock()

    def add(self, to: str, cost: float = 1.0) -> None:
        """Note one accepted message to ``to``, now."""
        with self._lock:
            self.count += 1
            self.first.setdefault(to, time.time())
            self.costs.setdefault(to, cost)

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self.count = 0
            self.first.clear()
            self.costs.clear()

    def routes(self) -> list[web.RouteDef]:
        """Return the control routes."""

        async def count(_: web.Request) -> web.Response:
            return web.json_response({"count": self.count})

        async def arrivals(_: web.Request) -> web.Response:
            return web.json_response({"arrivals": self.first})

        async def costs(_: web.Request) -> web.Response:
            return web.json_response({"costs": self.costs})

        async def reset(_: web.Request) -> web.Response:
            self.reset()
            return web.json_response({"reset": True})

        return [web.get("/__count", count), web.get("/__arrivals", arrivals),
                web.get("/__costs", costs), web.post("/__bench_reset", reset)]  # fmt: skip


class CountingTwilio(TwilioFake):
    """The Twilio fake, noting each accepted message and forgetting the raw requests."""

    def __init__(self, latency_ms: int, arrivals: Arrivals) -> None:
        super().__init__(latency_ms=latency_ms)
        self.arrivals = arrivals

    def routes(self) -> list[web.RouteDef]:
        own = [r for r in super().routes() if not (r.method == "POST" and
                                                   r.path.endswith("/Messages.json"))]  # fmt: skip
        base = "/2010-04-01/Accounts/{account}"
        return [web.post(f"{base}/Messages.json", self.counted), *own, *self.arrivals.routes()]

    async def counted(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        response = await self.create(request)
        if response.status == 201:
            segments = count_segments(str(form.get("Body", ""))).segments
            self.arrivals.add(str(form.get("To", "")), float(segments))
        # A benchmark sends tens of thousands: keep counts, not every request's headers.
        self.requests.clear()
        self.messages.clear()
        return response

    def reset(self) -> None:
        super().reset()
        self.arrivals.reset()


class CountingSmtp(SmtpFake):
    """The SMTP fake, answering DATA after ``latency_ms`` and keeping counts, not messages."""

    def __init__(self, latency_ms: int, arrivals: Arrivals) -> None:
        super().__init__()
        self.latency_ms = latency_ms
        self.arrivals = arrivals

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        for to in envelope.rcpt_tos:
            self.arrivals.add(to)
        return "250 2.0.0 Message accepted for delivery"


async def _serve(kind: str, latency_ms: int) -> None:
    arrivals = Arrivals()
    if kind == "twilio":
        twilio = CountingTwilio(latency_ms, arrivals)
        await twilio.start()
        port = control = twilio.port
        stop: Any = twilio.stop
    else:
        smtp = CountingSmtp(latency_ms, arrivals)
        port = smtp.start()
        app = web.Application()
        app.add_routes(arrivals.routes())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        assert isinstance(site._server, asyncio.Server)  # started just above
        control = site._server.sockets[0].getsockname()[1]

        async def stop() -> None:
            await runner.cleanup()
            smtp.stop()

    print(f"listening on 127.0.0.1:{port} control {control}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await stop()


def main() -> None:
    """Run one fake until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("kind", choices=["twilio", "smtp"])
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.kind, args.latency_ms))


if __name__ == "__main__":
    main()
