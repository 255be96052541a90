"""The fakes as separate processes, the way benchmarks and e2e tests start them."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest

from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def run() -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def start(module: str, *args: str) -> int:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server is ready, or it died
        assert line.startswith("listening on 127.0.0.1:"), line
        return int(line.strip().rpartition(":")[2])

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


async def test_twilio_fake_as_a_process(run: object) -> None:
    port = run("tests.fakes.twilio_server", "--latency-ms", "5")  # type: ignore[operator]
    base = f"http://127.0.0.1:{port}"
    auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    url = f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    form = {"To": "+5491155551234", "From": "+15017122661", "Body": "hola"}
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as http:
        async with http.post(url, data=form) as answer:
            assert answer.status == 201
            sid = (await answer.json())["sid"]
        async with http.post(f"{base}/__fail", json={"status": 503, "count": 1}) as answer:
            assert answer.status == 200
        async with http.post(url, data=form) as answer:
            assert answer.status == 503
            assert (await answer.json())["code"] == 503
        async with http.get(f"{base}/__received") as answer:
            received = await answer.json()
        assert [m["sid"] for m in received["messages"]] == [sid]
        assert len(received["requests"]) == 2
        async with http.post(f"{base}/__reset") as answer:
            assert answer.status == 200
        async with http.get(f"{base}/__received") as answer:
            assert (await answer.json())["messages"] == []


async def test_x_fake_as_a_process(run: object) -> None:
    port = run("tests.fakes.x_server")  # type: ignore[operator]
    url = f"http://127.0.0.1:{port}/2/dm_conversations/with/1/messages"
    async with aiohttp.ClientSession() as http, http.post(url, json={"text": "hola"}) as answer:
        assert answer.status == 401  # no credentials at all
        assert (await answer.json())["title"] == "Unauthorized"


async def test_smtp_fake_as_a_process_spools_eml(run: object, tmp_path: Path) -> None:
    port = run("tests.fakes.smtp_server", "--spool", str(tmp_path))  # type: ignore[operator]
    message = "From: a@example.com\r\nTo: b@example.com\r\nSubject: hola\r\n\r\nhola\r\n"
    await aiosmtplib.send(
        message,
        sender="a@example.com",
        recipients=["b@example.com"],
        hostname="127.0.0.1",
        port=port,
        start_tls=False,
    )
    [eml] = await asyncio.to_thread(lambda: sorted(tmp_path.glob("*.eml")))
    assert b"Subject: hola" in eml.read_bytes()
