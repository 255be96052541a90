"""compose.yaml: valid against the Compose Specification, and the deployment it promises.

The schema is the compose-spec's own JSON schema as check-jsonschema vendors it (a dev
dependency), validated with jsonschema. Docker's own ``docker compose config`` runs too
where the plugin is installed (CI machines have the client only, without the plugin;
Debian bookworm packages no plugin, only the old Python docker-compose 1.x).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLES = {"deploy/notifier.env": ROOT / "deploy/notifier.env.example",
                "deploy/postgres.env": ROOT / "deploy/postgres.env.example"}  # fmt: skip


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves the << merges
    assert isinstance(loaded, dict)
    unshared = json.loads(json.dumps(loaded))  # merged services share their nested mappings
    assert isinstance(unshared, dict)
    return unshared


def _schema() -> dict[str, Any]:
    vendored = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    found = json.loads(vendored.read_text(encoding="utf-8"))
    assert isinstance(found, dict)
    return found


def _problems(document: dict[str, Any]) -> list[str]:
    schema = _schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(document)
    )


def _replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("command") == ["notifier", "run"]}


def _env_names(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))  # fmt: skip
    return {name.strip(): value for name, value in pairs}


def test_compose_yaml_is_valid_against_the_compose_specification() -> None:
    assert _problems(_compose()) == []


def test_the_schema_check_catches_a_broken_file() -> None:
    # The check itself works: a typo'd key and a bad depends_on condition are found.
    broken = _compose()
    broken["services"]["notifier-1"]["healthchek"] = {}
    broken["services"]["notifier-2"]["depends_on"]["migrate"]["condition"] = "done"
    found = _problems(broken)
    assert any(p.startswith("services/notifier-1: ") and "healthchek" in p for p in found), found
    assert [p for p in found if p.startswith("services/notifier-2/")] == [
        "services/notifier-2/depends_on: {'postgres': {'condition': 'service_healthy'}, "
        "'migrate': {'condition': 'done'}} is not valid under any of the given schemas"
    ], found


def test_postgres_keeps_its_data_in_a_named_volume_and_reports_health() -> None:
    compose = _compose()
    postgres = compose["services"]["postgres"]
    mounts = [m.split(":") for m in postgres["volumes"]]
    assert ["pgdata", "/var/lib/postgresql/data"] in mounts
    assert "pgdata" in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["env_file"] == "deploy/postgres.env"


def test_a_one_shot_upgrade_runs_before_two_replicas_of_one_image() -> None:
    compose = _compose()
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["notifier", "db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    replicas = _replicas(compose)
    assert sorted(replicas) == ["notifier-1", "notifier-2"]
    for name, service in replicas.items():
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
        # The same image as the upgrade, built from the repository's Dockerfile.
        assert (service["build"], service["image"]) == (migrate["build"], migrate["image"]) == (
            ".", "notifier:local")  # fmt: skip
        assert service["environment"] == migrate["environment"]
        url = service["environment"]["NOTIFIER_DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://notifier@postgres:5432/"), url  # no password
    assert (ROOT / "Dockerfile").is_file()
    published = [s["ports"][0].rsplit(":", 1)[0] for s in replicas.values()]
    assert len(set(published)) == 2, published  # two host ports, not one taken twice


def test_replicas_report_readiness_from_readyz_within_the_probe_bound() -> None:
    for name, service in _replicas(_compose()).items():
        check = service["healthcheck"]
        assert check["test"][0] == "CMD" and "/readyz" in check["test"][-1], name
        # /readyz answers within 2 s however the database is; the request's own bound
        # (5 s) fits inside the health check's timeout.
        named = re.search(r"timeout=(\d+)", check["test"][-1])
        assert named is not None, check
        bound = float(named.group(1))
        assert 2 < bound < float(check["timeout"].rstrip("s")), check
        # SIGTERM's grace (20 s by default) plus 2 s fits before the engine's SIGKILL.
        assert float(service["stop_grace_period"].rstrip("s")) >= 22


class _Readyz(http.server.BaseHTTPRequestHandler):
    answer = 200

    def do_GET(self) -> None:
        self.send_response(self.answer if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def readyz_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Readyz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("answer", "healthy"), [(200, True), (503, False)], ids=["200", "503"])
def test_the_health_check_command_passes_on_200_and_fails_on_503(
    readyz_server: http.server.HTTPServer, answer: int, healthy: bool
) -> None:
    _Readyz.answer = answer
    code = _replicas(_compose())["notifier-1"]["healthcheck"]["test"][-1]
    port = readyz_server.server_address[1]
    aimed = code.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    assert aimed != code
    done = subprocess.run([sys.executable, "-c", aimed], capture_output=True, timeout=30)
    assert (done.returncode == 0) is healthy, done.stderr


def test_credentials_come_from_git_ignored_env_files_with_documented_empty_examples() -> None:
    compose = _compose()
    for name, service in compose["services"].items():
        assert service["env_file"] in ENV_EXAMPLES, name
    for real, example in ENV_EXAMPLES.items():
        ignored = subprocess.run(["git", "check-ignore", "-q", real], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{real} is not git-ignored"
        values = _env_names(example)
        assert values and all(v == "" for v in values.values()), example
        lines = example.read_text().splitlines()
        for i, line in enumerate(lines):  # each variable has its comment (above, or its group)
            if "=" in line and not line.startswith("#"):
                assert any(lines[j].startswith("#") for j in range(max(0, i - 4), i)), line
    names = set(_env_names(ENV_EXAMPLES["deploy/notifier.env"]))
    secrets = {"NOTIFIER_API_TOKEN", "NOTIFIER_SECRET_KEY", "TWILIO_AUTH_TOKEN",
               "NOTIFIER_SMTP_PASSWORD", "NOTIFIER_TWILIO_WEBHOOK_SHARED_KEY",
               "NOTIFIER_X_CONSUMER_SECRET", "NOTIFIER_X_ACCESS_TOKEN_SECRET",
               "NOTIFIER_X_BEARER_TOKEN", "NOTIFIER_X_CLIENT_SECRET",
               "NOTIFIER_X_REFRESH_TOKEN", "PGPASSWORD"}  # fmt: skip
    assert secrets <= names, secrets - names
    assert set(_env_names(ENV_EXAMPLES["deploy/postgres.env"])) == {"POSTGRES_PASSWORD"}


def test_the_example_as_shipped_is_accepted_with_every_channel_unset(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NOTIFIER_", "TWILIO_"))}  # fmt: skip
    env.update(_env_names(ENV_EXAMPLES["deploy/notifier.env"]))
    done = subprocess.run([sys.executable, "-m", "notifier", "channels"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[1].strip() for line in done.stdout.splitlines()] == [
        "unavailable"] * 4, done.stdout  # fmt: skip


def _docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    found = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return [docker, "compose"] if found.returncode == 0 else None


@pytest.mark.skipif(_docker_compose() is None, reason="no docker compose plugin here")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    # A copy beside the example env files (the real ones are the operator's).
    shutil.copy(COMPOSE, tmp_path / "compose.yaml")
    (tmp_path / "deploy").mkdir()
    for real, example in ENV_EXAMPLES.items():
        shutil.copy(example, tmp_path / real)
    command = _docker_compose()
    assert command is not None
    done = subprocess.run([*command, "config", "--quiet"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
