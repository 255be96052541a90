"""End-to-end fixtures: the provider fakes in this process, a fresh database, daemons to start."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from notifier.store.convert import notification_events, notifications
from notifier.store.store import Store
from tests.e2e.daemon import Daemon, base_env, notifier, wait_for
from tests.e2e.tcp_proxy import TcpProxy
from tests.fakes.smtp_server import SmtpFake, free_port
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioFake
from tests.fakes.x_server import (
    ACCESS_TOKEN,
    ACCESS_TOKEN_SECRET,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    XFake,
)

TWILIO_FROM = "+15017122661"
WHATSAPP_FROM = "+14155238886"


@dataclass
class Fakes:
    """The local providers, serving from the test's own event loop (SMTP: its own thread)."""

    twilio: TwilioFake
    smtp: SmtpFake
    x: XFake

    def env(self) -> dict[str, str]:
        """Settings that point every channel at these fakes."""
        return {
            "NOTIFIER_SMTP_HOST": "127.0.0.1", "NOTIFIER_SMTP_PORT": str(self.smtp.port),
            "NOTIFIER_SMTP_TLS": "none", "NOTIFIER_EMAIL_FROM": "Acme <avisos@acme.example>",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "NOTIFIER_TWILIO_FROM": TWILIO_FROM, "NOTIFIER_TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
            "NOTIFIER_TWILIO_BASE_URL": self.twilio.url,
            "NOTIFIER_X_CONSUMER_KEY": CONSUMER_KEY, "NOTIFIER_X_CONSUMER_SECRET": CONSUMER_SECRET,
            "NOTIFIER_X_ACCESS_TOKEN": ACCESS_TOKEN,
            "NOTIFIER_X_ACCESS_TOKEN_SECRET": ACCESS_TOKEN_SECRET,
            "NOTIFIER_X_BASE_URL": self.x.url, "NOTIFIER_OPS_EMAIL": "ops@acme.example",
        }  # fmt: skip

    def sms_to(self, number: str) -> list[dict[str, Any]]:
        """Messages Twilio accepted for ``number`` (SMS, or WhatsApp when prefixed)."""
        return [m for m in self.twilio.messages if m["to"] == number]

    def mail_to(self, address: str) -> list[Any]:
        """Mails the SMTP server accepted for ``address``."""
        return [m for m in self.smtp.received if address in m.rcpt_tos]

    def received(self) -> int:
        """How many messages the providers accepted, on every channel."""
        return len(self.twilio.messages) + len(self.smtp.received) + len(self.x.sent)


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    twilio, smtp, x = TwilioFake(), SmtpFake(), XFake()
    await twilio.start()
    await x.start()
    smtp.start()
    yield Fakes(twilio, smtp, x)
    smtp.stop()
    await x.stop()
    await twilio.stop()


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of the test PostgreSQL, which a test can cut or blackhole."""
    found = await TcpProxy.in_front_of(postgres_url)
    yield found
    await found.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def e2e_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file migrated by ``notifier db upgrade``, or a PG clone."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"
    done = notifier("db", "upgrade", env=base_env(url, 0), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return url


@pytest.fixture
def sqlite_db(sqlite_url: str) -> str:
    """A fresh migrated SQLite database (a copy of the session's template)."""
    return sqlite_url


DaemonFactory = Callable[..., Daemon]


@pytest.fixture
async def make_daemon(tmp_path: Path, fakes: Fakes) -> AsyncIterator[DaemonFactory]:
    """Return a factory of daemons on the fakes: ``make_daemon(url, NOTIFIER_X="...")``."""
    made: list[Daemon] = []

    def make(url: str, *, command: tuple[str, ...] = ("run",), **extra: str) -> Daemon:
        env = base_env(url, free_port(), **{**fakes.env(), **extra})
        home = tmp_path / f"home-{len(made)}"
        home.mkdir()
        daemon = Daemon(env, home, command)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        await daemon.close()


async def rows(url: str) -> list[dict[str, Any]]:
    """Every notification row, read straight from the database."""
    store = Store.open(url)
    try:
        async with store.reading() as conn:
            found = await conn.execute(select(notifications).order_by(notifications.c.id))
            return [dict(r) for r in found.mappings()]
    finally:
        await store.close()


async def reasons(url: str, notification_id: int) -> list[str]:
    """The notification's history as ``type: reason`` lines, oldest first."""
    store = Store.open(url)
    try:
        async with store.reading() as conn:
            found = await conn.execute(
                select(notification_events.c.type, notification_events.c.reason)
                .where(notification_events.c.notification_id == notification_id)
                .order_by(notification_events.c.id)
            )
            return [f"{kind}: {reason}" for kind, reason in found]
    finally:
        await store.close()


async def scanned_at_or_after(url: str, at: datetime) -> bool:
    """Whether a scan that read the clock at ``at`` or later has published its figures."""
    store = Store.open(url)
    try:
        scan = (await store.published()).scan
    finally:
        await store.close()
    now = scan.value.figures.now if scan is not None else None
    return now is not None and now >= at


async def settled_rows(url: str, count: int) -> list[dict[str, Any]]:
    """Wait until ``count`` rows exist and none is pending or sending; return them."""

    async def settled() -> list[dict[str, Any]]:
        found = await rows(url)
        busy = any(r["status"] in ("pending", "sending") for r in found)
        return found if len(found) == count and not busy else []

    return list(await wait_for(settled, f"{count} notifications settled"))


# The crash tests' daemons: short leases, no rate limit in the way, warnings only.
CRASH_SETTINGS = {
    "NOTIFIER_LEASE": "2s", "NOTIFIER_RATE_SMS": "100000", "NOTIFIER_RATE_WHATSAPP": "100000",
    "NOTIFIER_RATE_EMAIL": "100000", "NOTIFIER_RATE_X": "100000",
    "NOTIFIER_X_DAILY_QUOTA": "1000000", "NOTIFIER_LOG_LEVEL": "WARNING",
}  # fmt: skip


def crash_daemons(make_daemon: DaemonFactory, url: str) -> list[Daemon]:
    """Two replicas on PostgreSQL (SKIP LOCKED claims), one on SQLite (it allows one daemon)."""
    count = 2 if url.startswith("postgresql") else 1
    return [make_daemon(url, **CRASH_SETTINGS) for _ in range(count)]


async def kill_repeatedly(
    daemons: Sequence[Daemon], fakes: Fakes, *, kills: int, total: int,
    burst: tuple[int, int], rng: random.Random,
) -> None:  # fmt: skip
    """kill -9 the first daemon ``kills`` times, each once a ``burst`` more messages went out.

    The run is then started for good. It stops killing early once ``total`` messages
    arrived. The other replicas join after the first kill and run on throughout: started
    before it, on a loaded machine they could send everything while this one starts, and
    no kill would land mid-send.
    """
    for kill in range(kills):
        before = fakes.received()
        await daemons[0].started()
        # Kill once this run has got somewhere: a few dozen more messages out.
        target = min(before + rng.randint(*burst), total)
        await wait_for(partial(_reached, fakes, target), "progress before the kill")
        daemons[0].kill()
        if kill == 0:
            for daemon in daemons[1:]:
                await daemon.started()
        if fakes.received() >= total:
            break
    await daemons[0].started()


def _reached(fakes: Fakes, target: int) -> bool:
    return fakes.received() >= target


async def recovered(url: str) -> int:
    """How many sends crash recovery took up (recovered, unknown, found at the provider).

    Zero means no kill landed mid-send: the crash test proved nothing.
    """
    store = Store.open(url)
    try:
        async with store.reading() as conn:
            query = select(func.count()).where(
                notification_events.c.type.in_(["recovered", "unknown"])
                | notification_events.c.reason.like("found at the provider%")
            )
            return int(await conn.scalar(query) or 0)
    finally:
        await store.close()
