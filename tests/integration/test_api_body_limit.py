"""The request body limit over real HTTP: uvicorn serving the app on a loopback port.

A declared Content-Length over the limit is answered 413 before any of the body is sent;
a chunked body is answered 413 once it passes the limit, while the client still has more
to send. The Twilio webhooks get the same answer before their signature is checked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr

from notifier.api.server import ApiServer
from notifier.config import Settings
from notifier.engine.ingest.ledger_service import Ledger
from notifier.engine.wiring.services import Services
from notifier.observability import Metrics
from notifier.store.store import Store
from tests.conftest import FakeClock
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.integration.conftest import AUTH, TOKEN
from tests.webhooks_fixtures import PUBLIC_URL

DEADLINE = 60.0  # seconds: a loaded 2-core machine still answers well within this
LIMIT = 16 * 1024  # well under uvicorn's 64 KB read-ahead
DEFAULT = 1_048_576


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Store]:
    s = Store.open(sqlite_url)
    yield s
    await s.close()


@asynccontextmanager
async def served(store: Store, **settings: object) -> AsyncIterator[int]:
    """Serve the real app through the daemon's own uvicorn wrapper; yield its port."""
    values: dict[str, object] = {
        "api_token": SecretStr(TOKEN), "http_host": "127.0.0.1", "http_port": 0,
        "public_url": PUBLIC_URL, "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": SecretStr(AUTH_TOKEN), **settings,
    }  # fmt: skip
    s = Settings(**values)  # type: ignore[arg-type]  # a test table of known fields
    clock = FakeClock()
    svc = Services(settings=s, store=store, clock=clock, ledger=Ledger(store, clock))
    api = ApiServer(svc, Metrics())
    port = int(api.socket.getsockname()[1])
    task = asyncio.create_task(api.serve())
    async with asyncio.timeout(DEADLINE):
        while not api.server.started:  # noqa: ASYNC110 (uvicorn has a flag, no event)
            await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        api.stop()
        await asyncio.wait_for(task, DEADLINE)


async def raw_exchange(
    port: int, head: str, parts: list[bytes]
) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` and ``parts`` (and nothing more), then read the whole response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode())
        for part in parts:
            writer.write(part)
            await writer.drain()
        async with asyncio.timeout(DEADLINE):
            status_line = await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
    finally:
        writer.close()
    return int(status_line.split()[1]), headers, body


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def test_a_declared_length_over_the_limit_is_refused_before_the_body(store: Store) -> None:
    async with served(store, max_body_bytes=LIMIT) as port:
        # 300 MB announced, none of it sent: a server that read the body would never answer.
        head = (
            "POST /v1/promises HTTP/1.1\r\nHost: notifier.test\r\n"
            "Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n"
        )
        status, headers, body = await raw_exchange(port, head, [])
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "detail": f"request body larger than {LIMIT} bytes (NOTIFIER_MAX_BODY_BYTES)"
    }


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(store: Store) -> None:
    async with served(store, max_body_bytes=LIMIT) as port:
        head = (
            "POST /v1/promises HTTP/1.1\r\nHost: notifier.test\r\n"
            f"Authorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        # Two halves and a byte, and no final chunk: the answer cannot wait for the end. (The
        # last byte sent is the one past the limit, so the server reads all that was sent and
        # its close cannot reset the connection under the 413.)
        part = b" " * (LIMIT // 2 + 1)
        status, _, body = await raw_exchange(port, head, [chunk(part)] * 2)
    assert status == 413
    assert "NOTIFIER_MAX_BODY_BYTES" in json.loads(body)["detail"]


async def test_bodies_within_the_limit_are_served_as_before(store: Store) -> None:
    async with (
        served(store, max_body_bytes=LIMIT) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as client,
    ):
        body = (
            json.dumps({"name": "Ana"}).encode().ljust(LIMIT)
        )  # at the limit: JSON allows padding
        json_type = {"Content-Type": "application/json"}
        r = await client.put("/v1/customers/c-1", content=body, headers=json_type)
        assert r.status_code == 201, r.text

        async def stream() -> AsyncIterator[bytes]:
            yield b'{"name": '
            yield b'"Ana P."}'

        # httpx sends a generator chunked, without a Content-Length.
        r = await client.put("/v1/customers/c-1", content=stream(), headers=json_type)
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "Ana P."


@pytest.mark.parametrize("path", ["/webhooks/twilio/inbound", "/webhooks/twilio/status"])
async def test_webhooks_read_no_more_than_the_limit_before_the_signature(
    store: Store, path: str
) -> None:
    async with served(store) as port:  # the default limit, 1 MB
        form = "application/x-www-form-urlencoded"
        head = f"POST {path} HTTP/1.1\r\nHost: notifier.test\r\nContent-Type: {form}\r\n"
        status, _, _ = await raw_exchange(port, head + "Content-Length: 314572800\r\n\r\n", [])
        assert status == 413
        part = b"x" * (DEFAULT // 2 + 1)
        chunked = head + "Transfer-Encoding: chunked\r\n\r\n"
        status, _, _ = await raw_exchange(port, chunked, [chunk(b"Body=" + part), chunk(part)])
        assert status == 413
        # At the limit exactly, the form is read and its (missing) signature refused.
        exact = b"Body=" + b"x" * (DEFAULT - 5)
        status, _, body = await raw_exchange(
            port, head + f"Content-Length: {len(exact)}\r\n\r\n", [exact]
        )
        assert status == 403, body
