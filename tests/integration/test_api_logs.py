"""uvicorn as the daemon configures it: an exception escaping the app is one masked JSON line."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from notifier.api.server import server_config
from notifier.observability import configure_logging
from tests.e2e.daemon import wait_for
from tests.fakes.smtp_server import free_port

# configure_logging changes process-wide state: each test gets it back as it was.
pytestmark = pytest.mark.usefixtures("restored_logging")


def _failing_app() -> FastAPI:
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("cannot reach +54 9 11 5555-1234")

    return app


async def test_an_exception_escaping_the_app_is_logged_by_uvicorn_as_one_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    port = free_port()
    server = uvicorn.Server(server_config(_failing_app(), "127.0.0.1", port))
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_for(lambda: server.started, "uvicorn to start", 30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            answer = await client.get("/boom")
        assert answer.status_code == 500
    finally:
        server.should_exit = True
        await serving
        sock.close()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "5555-1234" not in err
    [line] = [json.loads(text) for text in err.splitlines()]
    assert (line["logger"], line["level"]) == ("uvicorn.error", "error")
    assert line["event"] == "Exception in ASGI application"
    [exc] = line["exception"]
    assert (exc["exc_type"], exc["exc_value"]) == ("RuntimeError", "cannot reach +54911****1234")
    assert exc["frames"][-1]["name"] == "boom"
    assert all(isinstance(f["lineno"], int) for f in exc["frames"])
