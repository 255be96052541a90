"""The apology at its instant, whatever the scan interval: the daemon wakes at the earliest
check it knows, and hears of other processes' changes (NOTIFY on PostgreSQL, the SQLite
file's data_version).

Every daemon here scans every hour: only the wake-ups can send within the test's patience.
The daemons run on the machine's clock (no NOTIFIER_NOW): a wake-up is a real wait, so each
promise's instant is a few seconds ahead. The tests assert the order of things (never
before the instant, after it within the generous PATIENCE), never a latency: that is
bench/wake_bench.py's.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes, rows
from tests.e2e.daemon import Daemon, daytime_zone, notifier, wait_for
from tests.e2e.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e
HOURLY = {"NOTIFIER_SCAN_INTERVAL": "1h"}
# The shipped delivery-late stage: overdue 1h, held until that has lasted 15m.
LATE = timedelta(hours=1, minutes=15)
LEAD = timedelta(seconds=6)  # how far ahead of now each promise's instant is
PHONE = "+5491155550101"


async def _customer(daemon: Daemon, cid: str = "c-1", phone: str = PHONE) -> None:
    zone = daytime_zone(datetime.now(UTC))
    await daemon.customer(cid, phone=phone, name="Ana Pérez", locale="es-AR", timezone=zone)


def _instant() -> datetime:
    """A scheduled instant LEAD from now, to the second (the CLI takes ISO 8601)."""
    return (datetime.now(UTC) + LEAD).replace(microsecond=0)


async def _cli_promise(daemon: Daemon, cid: str, ref: str, due: datetime, url: str) -> None:
    """``notifier promise add`` in another process (a thread: the fakes serve from here)."""
    env = {**daemon.env, "NOTIFIER_DATABASE_URL": url}
    done = await asyncio.to_thread(
        notifier, "promise", "add", cid, "--kind", "delivery", "--due", due.isoformat(),
        "--ref", ref, "--attr", "carrier=oca", env=env, cwd=daemon.home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


async def _accepted(fakes: Fakes, phone: str) -> float:
    """Wait for Twilio to accept a message to ``phone``; return when it did (wall clock)."""
    await wait_for(lambda: fakes.sms_to(phone), f"a message to {phone}")
    index = next(i for i, m in enumerate(fakes.twilio.messages) if m["to"] == phone)
    return time.time() - (time.monotonic() - fakes.twilio.arrived[index])


async def test_a_promise_added_through_the_api_is_sent_at_its_instant(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    daemon = await make_daemon(e2e_db, **HOURLY).started()
    await _customer(daemon)
    instant = _instant()
    pid = await daemon.promise("c-1", "order-1", instant - LATE, carrier="oca")

    # The scan the API's change woke planned the stage: its check is the instant (unless,
    # on a slow machine, the instant came and the check moved on to the next stage).
    async def planned() -> bool:
        return bool(fakes.sms_to(PHONE)) or await _check_is(daemon, pid, instant)

    await wait_for(planned, "the stage's check planned")
    accepted = await _accepted(fakes, PHONE)
    assert accepted >= instant.timestamp(), "sent before its instant"
    assert len(fakes.sms_to(PHONE)) == 1
    assert await daemon.stop() == 0


async def test_a_promise_added_by_the_cli_is_sent_at_its_instant(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    daemon = await make_daemon(e2e_db, **HOURLY).started()
    await _customer(daemon)
    instant = _instant()
    await _cli_promise(daemon, "c-1", "order-1", instant - LATE, e2e_db)
    accepted = await _accepted(fakes, PHONE)
    assert accepted >= instant.timestamp(), "sent before its instant"
    assert len(fakes.sms_to(PHONE)) == 1
    assert await daemon.stop() == 0


@pytest.mark.postgres
async def test_a_change_through_one_replica_wakes_the_other(
    postgres_url: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    first = make_daemon(postgres_url, **HOURLY)
    second = make_daemon(postgres_url, **HOURLY)
    first.start()
    second.start()
    await asyncio.gather(first.ready(), second.ready())
    await wait_for(lambda: "wake.listening" in second.stderr(), "the second replica's LISTEN")
    await _customer(first)
    instant = _instant()
    await first.promise("c-1", "order-1", instant - LATE, carrier="oca")
    first.kill()  # before the instant: only the second, told by NOTIFY, can send it
    accepted = await _accepted(fakes, PHONE)
    assert accepted >= instant.timestamp(), "sent before its instant"
    await wait_for(lambda: _all_sent(postgres_url), "the outbox settled")
    assert len(fakes.sms_to(PHONE)) == 1
    assert await second.stop() == 0


@pytest.mark.postgres
async def test_the_listener_survives_a_database_cut(
    postgres_url: str, proxy: TcpProxy, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    through = proxy.through(postgres_url)
    daemon = await make_daemon(through, **HOURLY).started()
    await _customer(daemon)
    await wait_for(lambda: daemon.stderr().count("wake.listening") == 1, "the first LISTEN")
    proxy.cut()
    await wait_for(lambda: "wake.listen_lost" in daemon.stderr(), "the LISTEN lost")
    await asyncio.sleep(2.0)  # the outage lasts: reconnecting fails, with backoff
    proxy.heal()
    await wait_for(lambda: daemon.stderr().count("wake.listening") >= 2, "LISTEN again")
    instant = _instant()
    # Straight to the database, not through the daemon: only its LISTEN can tell it.
    await _cli_promise(daemon, "c-1", "order-1", instant - LATE, postgres_url)
    accepted = await _accepted(fakes, PHONE)
    assert accepted >= instant.timestamp(), "sent before its instant"
    assert len(fakes.sms_to(PHONE)) == 1
    assert await daemon.stop() == 0


async def _check_is(daemon: Daemon, pid: int, instant: datetime) -> bool:
    found = await daemon.call("GET", f"/v1/promises/{pid}")
    at = found.get("next_check_at")
    return at is not None and datetime.fromisoformat(at) == instant


async def _all_sent(url: str) -> bool:
    found = await rows(url)
    return bool(found) and all(r["status"] not in ("pending", "sending") for r in found)
