"""The API served by uvicorn inside the daemon's own event loop."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from notifier.api.app import create_app
from notifier.engine.services import Services
from notifier.observability import Metrics


class _QuietServer(uvicorn.Server):
    """uvicorn that leaves the signals to the daemon (it would otherwise take SIGTERM)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """uvicorn without its own signal handlers: the daemon decides when to stop."""

    def __init__(self, services: Services, metrics: Metrics) -> None:
        app = create_app(services)
        app.state.metrics = metrics
        s = services.settings
        config = uvicorn.Config(
            app, host=s.http_host, port=s.http_port, log_level="warning", access_log=False,
            lifespan="off",
        )  # fmt: skip
        self.server = _QuietServer(config)

    async def serve(self) -> None:
        """Serve until stop() is called; raises SystemExit-free errors when the port is taken."""
        await self.server.serve()

    def stop(self) -> None:
        """Finish the requests under way, then return from serve()."""
        self.server.should_exit = True
