"""The ledger CLI on SQLite and PostgreSQL: shapes, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cli_runner import Cli


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    return Cli(capsys)


async def test_customer_promise_round_trip(cli: Cli) -> None:
    code, out, _ = await cli(
        "customer", "add", "c-1", "--name", "João Silva", "--phone", "+5511987654321",
        "--locale", "pt-BR", "--timezone", "America/Sao_Paulo", "--no-consent", "x",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "created customer c-1")
    refund = ["promise", "add", "c-1", "--kind", "refund", "--due", "2026-12-01T10:00:00-03:00",
              "--ref", "rf-1", "--attr", "amount=120"]  # fmt: skip
    code, out, _ = await cli(*refund)
    assert code == 0
    promise_id = int(out.strip())
    code, out, _ = await cli(*refund, "--json")
    shown = json.loads(out)
    assert (shown["id"], shown["created"], shown["attributes"]) == (
        promise_id,
        False,
        {"amount": "120"},
    )

    code, out, _ = await cli("interaction", "add", "c-1", "--channel", "whatsapp",
                             "--direction", "inbound", "--at", "now-1h")  # fmt: skip
    assert code == 0
    code, out, _ = await cli("customer", "show", "c-1", "--json")
    customer = json.loads(out)
    assert customer["last_used_channel"] == "whatsapp"
    assert customer["consent"]["x"] is False and customer["locale"] == "pt-BR"

    code, out, _ = await cli("promise", "reschedule", str(promise_id), "--due", "now+3d")
    assert code == 0 and "now due" in out
    code, out, _ = await cli("promise", "list", "--customer", "c-1", "--status", "open", "--json")
    assert [p["deadline_version"] for p in json.loads(out)] == [2]
    code, out, _ = await cli("promise", "keep", str(promise_id))
    assert out.strip() == f"promise {promise_id} is kept"
    code, out, _ = await cli("customer", "timeline", "c-1", "--json")
    assert [e["type"] for e in json.loads(out)][:2] == ["promise.kept", "promise.rescheduled"]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        pytest.param(["customer", "add", "c-9", "--name", "X", "--phone", "555"], 2, "'--phone'",
                     id="bad-phone"),
        pytest.param(["customer", "add", "c-9", "--name", "X", "--timezone", "Moon/Base"], 2,
                     "'--timezone'", id="bad-zone"),
        pytest.param(["customer", "add", "c-9", "--name", "X", "--no-consent", "fax"], 2,
                     "'--no-consent'", id="bad-channel"),
        pytest.param(["promise", "add", "c-9", "--kind", "delivery", "--due", "soon"], 2,
                     "'--due'", id="bad-time"),
        pytest.param(["promise", "add", "c-9", "--kind", "delivery", "--due", "now+1h"], 1,
                     "unknown customer 'c-9'", id="unknown-customer"),
        pytest.param(["promise", "keep", "424242"], 1, "unknown promise 424242",
                     id="unknown-promise"),
        pytest.param(["promise", "frobnicate"], 2, "No such command", id="unknown-command"),
        pytest.param(["customer", "add", "c-9", "--name", "X", "--timezone", "Factory"], 2,
                     "'--timezone'", id="zone-factory"),
        pytest.param(["customer", "add", "c-9", "--name", "X", "--locale", "root"], 2,
                     "'--locale'", id="locale-root"),
        pytest.param(["promise", "add", "c-9", "--kind", "refund", "--due",
                      "9999-12-31T23:00:00Z"], 2, "outside", id="due-9999"),
        pytest.param(["promise", "add", "c-9", "--kind", "refund", "--due",
                      "9999-12-31T23:00:00-03:00"], 2, "'--due'", id="due-overflows"),
        pytest.param(["promise", "add", "c-9", "--kind", "refund", "--due",
                      "now+99999999999d"], 2, "'--due'", id="due-far-relative"),
        pytest.param(["promise", "add", "c-9", "--kind", "refund", "--due", "now+80000w"], 2,
                     "outside", id="due-past-2200"),
        pytest.param(["promise", "add", "c-9", "--kind", "refund", "--due", "20261201"], 2,
                     "'--due'", id="due-digits"),
        pytest.param(["promise", "add", "c-9", "--kind", "refund", "--due", "now+1h",
                      "--window-start", "1969-01-01T00:00:00Z"], 2, "'--window-start'",
                     id="window-before-1970"),
        pytest.param(["promise", "add", "c-9", "--kind", "refund", "--due", "now+1h",
                      "--attr", "amount=1e27"], 2, "'--attr'", id="amount-too-large"),
        pytest.param(["promise", "keep", str(2**63)], 2, "'ID'", id="id-past-int64"),
        pytest.param(["promise", "reschedule", str(2**63), "--due", "now+1h"], 2, "'ID'",
                     id="reschedule-id-past-int64"),
        pytest.param(["promise", "reschedule", "1", "--due", "9999-12-31T23:00:00Z"], 2,
                     "'--due'", id="reschedule-due-9999"),
        pytest.param(["interaction", "add", "c-9", "--channel", "sms", "--direction", "inbound",
                      "--at", "0001-01-01T00:00:00+01:00"], 2, "'--at'", id="at-year-1"),
        pytest.param(["notification", "show", str(2**63)], 2, "'ID'", id="notification-id"),
        pytest.param(["customer", "add", "c 9", "--name", "X"], 2, "'ID'", id="customer-id"),
        pytest.param(["customer", "show"], 2, "Missing argument", id="missing-argument"),
    ],
)  # fmt: skip
async def test_errors_are_one_line_with_the_right_exit_code(
    cli: Cli, args: list[str], code: int, fragment: str
) -> None:
    got, out, err = await cli(*args)
    assert got == code
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


def test_console_script_exit_codes(tmp_path: Path) -> None:
    env_db = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    done = subprocess.run(
        [sys.executable, "-m", "notifier", "customer", "show", "x"],
        env={"NOTIFIER_DATABASE_URL": env_db, "PATH": "", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "notifier: error: the database is not migrated: run 'notifier db upgrade'"
    )


async def test_relative_times_count_from_the_instant_the_cli_is_given(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CLI run in test mode starts its clock at NOTIFIER_NOW, whatever the machine's date.
    monkeypatch.setenv("NOTIFIER_TEST_MODE", "1")
    monkeypatch.setenv("NOTIFIER_NOW", "2031-06-01T12:00:00+00:00")
    code, _, err = await cli("customer", "add", "c-now", "--name", "Ana")
    assert code == 0, err
    code, out, err = await cli(
        "promise", "add", "c-now", "--kind", "delivery", "--due", "now+2h", "--json"
    )
    assert code == 0, err
    due = json.loads(out)["due_at"]
    assert due.startswith("2031-06-01T14:0"), due
