"""SIGTERM within NOTIFIER_SHUTDOWN_GRACE: slow providers, a database gone.

The bound asserted is the grace plus a generous margin for a loaded machine; the
timing targets themselves live in bench/.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes, rows
from tests.e2e.daemon import Daemon, daytime_zone, wait_for
from tests.e2e.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e
GRACE = 2.0
MARGIN = 5.0  # start-up of nothing, teardown of the process: never a tight bound


async def _promises(daemon: Daemon, count: int, prefix: str) -> list[str]:
    now = datetime.now(UTC)
    phones = [f"+5491155560{prefix}{i:02d}" for i in range(count)]
    for i, phone in enumerate(phones):
        await daemon.customer(f"c-{prefix}-{i}", phone=phone, timezone=daytime_zone(now))
        await daemon.promise(f"c-{prefix}-{i}", f"order-{prefix}-{i}", now - timedelta(hours=2))
    return phones


async def _stopped_within(daemon: Daemon) -> tuple[int, float]:
    started = time.monotonic()
    code = await daemon.stop()
    return code, time.monotonic() - started


async def test_a_slow_provider_does_not_stretch_the_grace(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    fakes.twilio.latency_ms = 30_000  # far past the grace
    daemon = await make_daemon(
        sqlite_db, NOTIFIER_SHUTDOWN_GRACE=f"{GRACE:g}s", NOTIFIER_DISPATCH_CONCURRENCY="2"
    ).started()
    await _promises(daemon, 4, "1")
    # Two in flight; the dispatcher waits for a free slot with the other two due.
    await wait_for(lambda: len(fakes.twilio.requests) == 2, "both slots taken")

    code, took = await _stopped_within(daemon)

    assert code == 0
    assert took < GRACE + MARGIN, took
    found = await rows(sqlite_db)
    # Cut short in flight: left ``sending`` for the next process to look up at Twilio.
    assert sorted(r["status"] for r in found) == ["pending", "pending", "sending", "sending"]
    assert all(r["lease_owner"] is None for r in found if r["status"] == "pending")


@pytest.mark.postgres
async def test_sigterm_with_the_database_gone_still_exits_within_the_grace(
    postgres_url: str, proxy: TcpProxy, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    fakes.twilio.latency_ms = 1_000
    through = proxy.through(postgres_url)
    daemon = await make_daemon(
        through, NOTIFIER_SHUTDOWN_GRACE=f"{GRACE:g}s", NOTIFIER_LEASE="3s"
    ).started()
    phones = await _promises(daemon, 3, "2")
    await wait_for(lambda: len(fakes.twilio.requests) == 3, "every send in flight")
    proxy.cut()  # the outcomes cannot be written, nor anything released

    code, took = await _stopped_within(daemon)

    assert code == 0
    assert took < GRACE + MARGIN, took
    await wait_for(lambda: len(fakes.twilio.messages) == 3, "Twilio took all three")
    # The next process finds them at Twilio, as after a crash: nothing is sent twice.
    proxy.heal()
    second = await make_daemon(postgres_url).started()

    async def resolved() -> list[dict[str, object]]:
        found = await rows(postgres_url)
        return found if [r["status"] for r in found] == ["sent"] * 3 else []

    await wait_for(resolved, "the rows found sent at Twilio")
    assert sorted(m["to"] for m in fakes.twilio.messages) == phones
    assert await second.stop() == 0


@pytest.mark.postgres
async def test_sigterm_with_a_silent_database_still_exits_within_the_grace(
    postgres_url: str, proxy: TcpProxy, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    fakes.twilio.latency_ms = 1_000
    through = proxy.through(postgres_url)
    daemon = await make_daemon(through, NOTIFIER_SHUTDOWN_GRACE=f"{GRACE:g}s").started()
    await _promises(daemon, 3, "3")
    await wait_for(lambda: len(fakes.twilio.requests) == 3, "every send in flight")
    proxy.blackhole()  # packets dropped: every query waits, none fails

    code, took = await _stopped_within(daemon)

    assert code == 0
    assert took < GRACE + MARGIN, took
