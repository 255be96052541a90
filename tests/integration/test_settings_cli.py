"""A bad environment stops every command with one line per variable at fault, exit 1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from notifier import __version__
from tests.conftest import pg_url_for
from tests.fakes.smtp_server import free_port
from tests.integration.cli_runner import Cli
from tests.integration.rig import ROOT

SUPPORTED = (
    "notifier supports sqlite+aiosqlite:///path/to/notifier.db and "
    "postgresql+asyncpg://user:password@host:port/db"
)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """The CLI with none of the caller's NOTIFIER_ settings, in an empty folder."""
    for name in list(os.environ):
        if name.startswith(("NOTIFIER_", "TWILIO_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    monkeypatch.setenv("NOTIFIER_RULES_DIR", str(ROOT / "rules"))
    monkeypatch.setenv("NOTIFIER_TEMPLATES_DIR", str(ROOT / "templates"))
    return Cli(capsys)


BAD = [
    pytest.param("NOTIFIER_SCAN_INTERVAL", "abc", "'abc' is not a duration (e.g. 30s, 5m)",
                 id="not-a-duration"),
    pytest.param("NOTIFIER_SCAN_INTERVAL", "0s", "'0s' must be longer than 0s", id="zero-interval"),
    pytest.param("NOTIFIER_SCAN_INTERVAL", "-5s", "'-5s' is not a duration (e.g. 30s, 5m)",
                 id="negative-interval"),
    pytest.param("NOTIFIER_LEASE", "0m", "'0m' must be longer than 0s", id="zero-lease"),
    pytest.param("NOTIFIER_DISPATCH_CONCURRENCY", "0", "'0' must be at least 1",
                 id="zero-concurrency"),
    pytest.param("NOTIFIER_MAX_ATTEMPTS", "two", "'two' is not a whole number", id="not-a-number"),
    pytest.param("NOTIFIER_HTTP_PORT", "70000", "'70000' must be at most 65535", id="port-70000"),
    pytest.param("NOTIFIER_SMTP_PORT", "0", "'0' must be at least 1", id="smtp-port-0"),
    pytest.param("NOTIFIER_HTTP_PORT", "-1", "'-1' must be at least 0", id="port-negative"),
    pytest.param("NOTIFIER_RATE_SMS", "0", "'0' must be greater than 0", id="rate-zero"),
    pytest.param("NOTIFIER_RATE_EMAIL", "-2.5", "'-2.5' must be greater than 0",
                 id="rate-negative"),
    pytest.param("NOTIFIER_RATE_X", "nan", "'nan' is not a finite number", id="rate-nan"),
    pytest.param("NOTIFIER_DEMO", "maybe", "'maybe' is not a boolean (true or false)", id="bool"),
    pytest.param("NOTIFIER_SMTP_TLS", "tls",
                 "'tls' must be one of 'none', 'starttls' or 'implicit'", id="choice"),
    pytest.param("NOTIFIER_LOG_LEVEL", "loud",
                 "'loud' is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)", id="level"),
    pytest.param("NOTIFIER_WHATSAPP_CONTENT_SIDS", '{"delivery_late": 5}',
                 "['delivery_late']: 5 is not text", id="json-value"),
    pytest.param("NOTIFIER_DEFAULT_TIMEZONE", "Mars/Base",
                 "'Mars/Base' is not an IANA time zone (e.g. America/Argentina/Buenos_Aires)",
                 id="timezone"),
    pytest.param("NOTIFIER_DEFAULT_LOCALE", "xx-YY",
                 "'xx-YY' is not a locale (e.g. es, es-AR, en, pt-BR)", id="locale"),
    pytest.param("NOTIFIER_DEFAULT_CURRENCY", "ZZZ",
                 "'ZZZ' is not an ISO 4217 currency code (e.g. USD, ARS)", id="currency"),
    pytest.param("NOTIFIER_DATABASE_URL", "mysql://app:hunter2@127.0.0.1/shop",
                 f"'mysql://app:***@127.0.0.1/shop' is not a supported database: {SUPPORTED}",
                 id="mysql"),
    pytest.param("NOTIFIER_DATABASE_URL", "postgresql://app:hunter2@db:5432/shop",
                 f"'postgresql://app:***@db:5432/shop' is not a supported database: {SUPPORTED} "
                 "(here: postgresql+asyncpg://app:***@db:5432/shop)", id="postgresql-no-driver"),
    pytest.param("NOTIFIER_DATABASE_URL", "sqlite:///notifier.db",
                 f"'sqlite:///notifier.db' is not a supported database: {SUPPORTED} "
                 "(here: sqlite+aiosqlite:///notifier.db)", id="sqlite-no-driver"),
    pytest.param("NOTIFIER_DATABASE_URL", "notifier.db",
                 f"'notifier.db' is not a database URL: {SUPPORTED}", id="not-a-url"),
]  # fmt: skip


@pytest.mark.parametrize(("variable", "value", "message"), BAD)
@pytest.mark.parametrize(
    "command",
    [("status",), ("rules", "check"), ("db", "upgrade"), ("customer", "show", "ana")],
    ids=["status", "rules-check", "db-upgrade", "customer-show"],
)
async def test_an_invalid_setting_stops_the_command_with_one_line_naming_it(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, out, err = await cli(*command)
    assert (code, out) == (1, "")
    # `NOTIFIER_X: 'v' ...`; a value inside a JSON setting: `NOTIFIER_X['key']: v ...`
    where = variable if message.startswith("[") else f"{variable}: "
    assert err.splitlines() == [f"notifier: error: {where}{message}"]
    assert "hunter2" not in err


async def test_every_invalid_setting_is_listed_at_once_in_field_order(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_SCAN_INTERVAL", "soon")
    monkeypatch.setenv("NOTIFIER_HTTP_PORT", "http")
    monkeypatch.setenv("NOTIFIER_RATE_SMS", "0")
    code, _, err = await cli("status")
    assert code == 1
    assert err.splitlines() == [
        "notifier: error: NOTIFIER_HTTP_PORT: 'http' is not a whole number",
        "notifier: error: NOTIFIER_SCAN_INTERVAL: 'soon' is not a duration (e.g. 30s, 5m)",
        "notifier: error: NOTIFIER_RATE_SMS: '0' must be greater than 0",
    ]


async def test_a_setting_that_is_not_json_names_the_variable(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_WHATSAPP_CONTENT_SIDS", "delivery_late=HX1")
    code, _, err = await cli("status")
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("notifier: error: NOTIFIER_WHATSAPP_CONTENT_SIDS: is not valid JSON (")


@pytest.mark.parametrize("command", [("status",), ("db", "upgrade")], ids=["status", "db-upgrade"])
async def test_a_database_on_a_closed_port_says_database_host_and_port(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv(
        "NOTIFIER_DATABASE_URL", f"postgresql+asyncpg://app:hunter2@127.0.0.1:{port}/db"
    )
    code, _, err = await cli(*command)
    assert code == 1
    assert err.splitlines() == [
        f"notifier: error: database postgresql+asyncpg://app:***@127.0.0.1:{port}/db: "
        "cannot connect (connection refused)"
    ]


@pytest.mark.postgres
async def test_a_missing_postgresql_database_is_named_with_the_servers_reason(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_url_for("notifier_no_such_db")
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", url)
    code, _, err = await cli("status")
    assert code == 1
    assert err.splitlines() == [
        f"notifier: error: database {url}: cannot connect "
        '(database "notifier_no_such_db" does not exist)'
    ]


async def test_a_sqlite_file_in_a_missing_folder_says_which_folder(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'notifier.db'}"
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", url)
    code, _, err = await cli("status")
    assert code == 1
    assert err.splitlines() == [
        f"notifier: error: database {url}: cannot open (no folder {tmp_path / 'missing'})"
    ]


async def test_version_prints_the_package_version_whatever_the_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_SCAN_INTERVAL", "abc")  # --version reads no settings
    assert await cli("--version") == (0, f"notifier {__version__}\n", "")
