"""Email never goes out without a working unsubscribe link: start-up refuses, in one line.

``notifier run`` runs as a subprocess. A case that passes the check goes on to find its
database unmigrated and stops there, so no daemon is left running.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.engine.ingest.demo_key import demo_secret
from notifier.store.connect import database_file

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 32
URL = "https://n.acme.example"


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFIER_", "TWILIO_"))}
    base.update(
        NOTIFIER_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}",
        NOTIFIER_SMTP_HOST="127.0.0.1",
        NOTIFIER_EMAIL_FROM="Acme <avisos@acme.example>",
        NOTIFIER_RULES_DIR=str(ROOT / "rules"),
        NOTIFIER_TEMPLATES_DIR=str(ROOT / "templates"),
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "notifier", "run", "--no-api"],
        env=base, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


REFUSALS = [
    pytest.param({"NOTIFIER_PUBLIC_URL": URL}, "NOTIFIER_SECRET_KEY is not set", id="no-key"),
    pytest.param({"NOTIFIER_PUBLIC_URL": URL, "NOTIFIER_SECRET_KEY": "short"},
                 "NOTIFIER_SECRET_KEY has 5 characters", id="short-key"),
    pytest.param({"NOTIFIER_SECRET_KEY": KEY}, "NOTIFIER_PUBLIC_URL is not set", id="no-url"),
    pytest.param({"NOTIFIER_SECRET_KEY": KEY, "NOTIFIER_PUBLIC_URL": "n.acme.example"},
                 "NOTIFIER_PUBLIC_URL 'n.acme.example' must start with https://", id="no-scheme"),
]  # fmt: skip


@pytest.mark.parametrize(("env", "says"), REFUSALS)
def test_run_refuses_email_without_key_or_url_in_one_line(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    done = run(tmp_path, **env)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("notifier: error: ") and says in line
    assert not (tmp_path / "notifier.db").exists()  # refused before touching anything


def test_an_http_url_is_accepted_with_a_warning(tmp_path: Path) -> None:
    done = run(tmp_path, NOTIFIER_SECRET_KEY=KEY, NOTIFIER_PUBLIC_URL="http://n.acme.example")
    lines = done.stderr.splitlines()
    assert lines[0] == (
        "notifier: warning: NOTIFIER_PUBLIC_URL is http://n.acme.example: RFC 8058 wants "
        "HTTPS for one-click unsubscribe links"
    )
    assert "not at the newest schema" in done.stderr  # past the check, stopped by the database


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"NOTIFIER_SMTP_HOST": ""}, id="no-email-configured"),
        pytest.param({"NOTIFIER_TEST_MODE": "1"}, id="test-mode"),
    ],
)
def test_without_email_or_in_test_mode_no_key_is_needed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    done = run(tmp_path, **env)
    assert "NOTIFIER_SECRET_KEY" not in done.stderr
    assert "not at the newest schema" in done.stderr


def test_the_demo_key_is_made_once_per_database_and_kept_private(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    first = demo_secret(database_file(url)).get_secret_value()
    assert len(first) >= 32
    key_file = tmp_path / "demo.db.secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (
        demo_secret(database_file(url)).get_secret_value() == first
    )  # links survive a demo restart
    other = demo_secret(tmp_path / "other.db").get_secret_value()
    assert other != first
