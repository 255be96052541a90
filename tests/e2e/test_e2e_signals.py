"""Signals and the single-daemon lock: SIGTERM drains, SIGHUP keeps the last good rules."""

from __future__ import annotations

import re
import shutil
import signal
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes, rows
from tests.e2e.daemon import ROOT, Daemon, daytime_zone, wait_for

pytestmark = pytest.mark.e2e


async def test_sigterm_lets_sends_in_flight_finish_and_exits_0(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    fakes.twilio.latency_ms = 1500
    now = datetime.now(UTC)
    daemon = await make_daemon(sqlite_db).started()
    phones = [f"+54911555502{i:02d}" for i in range(4)]
    for i, phone in enumerate(phones):
        await daemon.customer(f"c-{i}", phone=phone, timezone=daytime_zone(now))
        await daemon.promise(f"c-{i}", f"order-{i}", now - timedelta(hours=2))
    await wait_for(lambda: len(fakes.twilio.requests) == len(phones), "every send in flight")
    assert fakes.twilio.messages == []  # all of them still inside Twilio's latency

    assert await daemon.stop() == 0

    assert sorted(m["to"] for m in fakes.twilio.messages) == phones
    assert [r["status"] for r in await rows(sqlite_db)] == ["sent"] * len(phones)


async def test_sighup_with_a_broken_rule_file_keeps_the_last_good_set(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    daemon = await make_daemon(sqlite_db, NOTIFIER_RULES_DIR=str(rules)).started()
    delivery = rules / "delivery.yaml"
    delivery.write_text(delivery.read_text().replace("[delivery_late,", "[delivery_lat,"))
    daemon.send_signal(signal.SIGHUP)

    async def problems() -> list[str]:
        answer = await daemon.client.get("/readyz")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["problems"])

    found = await wait_for(problems, "the reload's problems on /readyz")
    assert all(re.match(r"^\S+\.yaml:\d+:\d+: \S", p) for p in found), found
    assert any(p.startswith(f"{delivery}:") and "delivery_lat" in p for p in found), found

    # The old delivery-late rule still applies to a promise that comes late now.
    now = datetime.now(UTC)
    await daemon.customer("c-hup", phone="+5491155550301", timezone=daytime_zone(now))
    await daemon.promise("c-hup", "order-hup", now - timedelta(hours=2))
    await wait_for(lambda: fakes.sms_to("+5491155550301"), "the late promise's SMS")

    async def sent() -> list[dict[str, Any]]:
        found = await rows(sqlite_db)
        return found if found and found[0]["status"] == "sent" else []

    (row,) = await wait_for(sent, "the outcome written")
    assert (row["rule_id"], row["message"]) == ("delivery-late", "delivery_late")
    assert (await daemon.client.get("/readyz")).status_code == 200

    # Fixed again: the next SIGHUP loads it and the problems are gone.
    shutil.copyfile(ROOT / "rules" / "delivery.yaml", delivery)
    daemon.send_signal(signal.SIGHUP)
    await wait_for(lambda: _no_problems(daemon), "/readyz without problems after the fix")
    assert await daemon.stop() == 0


async def _no_problems(daemon: Daemon) -> bool:
    answer = await daemon.client.get("/readyz")
    return answer.status_code == 200 and answer.json()["problems"] == []


async def test_a_second_daemon_on_the_same_sqlite_file_refuses_to_start(
    sqlite_db: str, make_daemon: DaemonFactory
) -> None:
    first = await make_daemon(sqlite_db).started()
    second = make_daemon(sqlite_db)
    second.start()
    assert await second.exited() == 1
    lines = second.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert re.match(
        r"^notifier: error: another notifier daemon \(pid \d+\) is already running", lines[0]
    )
    assert (await first.client.get("/readyz")).status_code == 200
    assert await first.stop() == 0


async def test_a_database_not_at_the_newest_migration_is_refused(
    tmp_path: Path, make_daemon: DaemonFactory
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'never-migrated.db'}"
    daemon = make_daemon(url)
    daemon.start()
    assert await daemon.exited() == 1
    lines = [line for line in daemon.stderr().splitlines() if not line.startswith("{")]
    assert lines == [
        f"notifier: error: the database {url} is not at the newest schema: "
        "run 'notifier db upgrade'"
    ]


async def test_a_port_in_use_stops_start_up_with_one_line(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = make_daemon(sqlite_db, NOTIFIER_HTTP_PORT=str(port))
        daemon.start()
        assert await daemon.exited() == 1
    lines = [line for line in daemon.stderr().splitlines() if not line.startswith("{")]
    assert lines == [
        f"notifier: error: cannot serve the API on 127.0.0.1:{port}: Address already in use; "
        "stop what uses it or set NOTIFIER_HTTP_PORT"
    ]
    assert fakes.twilio.requests == []
