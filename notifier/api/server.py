"""The API served by uvicorn inside the daemon's own event loop."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from notifier.api.app import create_app
from notifier.domain.errors import NotifierError
from notifier.engine.wiring.services import Services
from notifier.observability import Metrics


class _QuietServer(uvicorn.Server):
    """uvicorn that leaves the signals to the daemon (it would otherwise take SIGTERM)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiPortError(NotifierError):
    """The API cannot listen on its host and port."""


class ApiServer:
    """uvicorn without its own signal handlers: the daemon decides when to stop."""

    def __init__(self, services: Services, metrics: Metrics) -> None:
        app = create_app(services)
        app.state.metrics = metrics
        s = services.settings.http
        self.server = _QuietServer(server_config(app, s.http_host, s.http_port))
        # Bound here, not in serve(): uvicorn answers a port in use with sys.exit() from
        # inside the daemon's loop; this way start-up fails with one clear line instead.
        self.socket = _bind(s.http_host, s.http_port)

    @property
    def port(self) -> int:
        """The port taken (the one the OS chose when NOTIFIER_HTTP_PORT is 0)."""
        return int(self.socket.getsockname()[1])

    async def serve(self) -> None:
        """Serve until stop() is called."""
        await self.server.serve(sockets=[self.socket])

    def stop(self) -> None:
        """Finish the requests under way, then return from serve()."""
        self.server.should_exit = True


def server_config(app: Callable[..., Any], host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings: its loggers left to configure_logging, so its errors are JSON too.

    uvicorn's default log_config installs its own text handlers ("Traceback (most recent
    call last)" in the daemon's JSON stderr); None keeps it from touching logging at all.
    """
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
        log_config=None,
    )  # fmt: skip


def _bind(host: str, port: int) -> socket.socket:
    """Return a socket bound to ``host:port``, or raise ApiPortError saying why not."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ApiPortError(
            f"cannot serve the API on {host}:{port}: {exc.strerror or exc}; "
            "stop what uses it or set NOTIFIER_HTTP_PORT"
        ) from None
    return sock
