"""`notifier incident preview`, `open --dry-run` and `show --watch` as scripts call them."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import timedelta

import pytest

from notifier.cli.incident_watch import watch
from notifier.engine.crisis.commands import Incidents
from notifier.engine.crisis.planner import plan_incidents
from tests.integration.cli_runner import Cli
from tests.integration.engine.test_crisis_preflight import SIDS, known_segment
from tests.integration.rig import ROOT, Rig

MATCH = ("--match", "kind=delivery")
TEXTS = ("--title", "Paro de transportistas", "--message", "Un paro frena los envíos.",
         "--message-locale", "en=A strike holds up deliveries.")  # fmt: skip
PREVIEW_KEYS = {
    "dry_run", "title", "titles", "severity", "through_quiet_hours", "updates_on", "estimate_at",
    "segment", "segment_text", "affected", "by_channel", "by_locale", "deferred", "skipped",
    "samples", "fanout", "whatsapp",
}  # fmt: skip


@pytest.fixture
def cli(
    rig: Rig, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """The CLI on the rig's database and instant, with SMS, WhatsApp and email configured."""
    env = {
        "NOTIFIER_DATABASE_URL": db_url, "NOTIFIER_TEST_MODE": "1",
        "NOTIFIER_NOW": rig.clock.now().isoformat(),
        "NOTIFIER_RULES_DIR": str(ROOT / "rules"),
        "NOTIFIER_TEMPLATES_DIR": str(ROOT / "templates"),
        "NOTIFIER_SMTP_HOST": "127.0.0.1", "NOTIFIER_EMAIL_FROM": "avisos@acme.example",
        "NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "NOTIFIER_TWILIO_AUTH_TOKEN": "t" * 32,
        "NOTIFIER_TWILIO_FROM": "+15017122661", "NOTIFIER_TWILIO_WHATSAPP_FROM": "+15017122662",
        "NOTIFIER_WHATSAPP_CONTENT_SIDS": json.dumps(SIDS), "NOTIFIER_RATE_SMS": "5",
    }  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Cli(capsys)


async def test_preview_json_has_a_stable_shape_and_the_known_counts(cli: Cli, rig: Rig) -> None:
    await known_segment(rig)
    view = await cli.json("incident", "preview", *MATCH, *TEXTS)
    assert isinstance(view, dict) and set(view) == PREVIEW_KEYS
    assert view["dry_run"] is True
    assert view["affected"] == {"customers": 8, "promises": 10}
    assert view["by_channel"]["sms"] == {"customers": 2, "promises": 3}
    assert view["by_channel"]["whatsapp"] == {"customers": 2, "promises": 3}
    assert set(view["by_channel"]) == {"sms", "whatsapp", "email", "x"}
    assert view["skipped"]["customers"] == 3
    assert {k: v["customers"] for k, v in view["skipped"]["by_reason"].items() if v["customers"]} \
        == {"opted out": 1, "no address": 1, "forgotten": 1}  # fmt: skip
    assert view["whatsapp"] == {
        "customers": 2, "outside_window": 2, "with_template": 1, "without_template": 1,
        "content_sids": True,
        "tiers": [{"customers_a_day": t, "counted": 1, "held_back": 0, "days": 1}
                  for t in (1_000, 10_000, 100_000)],
    }  # fmt: skip
    sms = view["fanout"]["by_channel"]["sms"]
    assert sms["per_second"] == 5 and sms["unit"] == "segments"
    assert sms["seconds"] == pytest.approx(sms["cost"] / 5)
    assert view["fanout"]["seconds"] == max(
        c["seconds"] for c in view["fanout"]["by_channel"].values()
    )
    sample = view["samples"][0]
    assert set(sample) == {"channel", "locale", "customer_id", "customers", "subject", "text",
                           "segments", "error"}  # fmt: skip


async def test_preview_prints_counts_skips_duration_and_samples(cli: Cli, rig: Rig) -> None:
    await known_segment(rig)
    code, out, err = await cli("incident", "preview", *MATCH, *TEXTS)
    assert code == 0, err
    for says in (
        "affected: 8 customers, 10 promises",
        "by channel: sms 2 (3 promises)",
        "skipped: 3 customers",
        "opted out 1",
        "forgotten 1",
        "fan-out at the rate limits:",
        "1 with a Content Template, 1 without",
        "--- sms es-AR",
        "Un paro frena los envíos.",
        "A strike holds up deliveries.",
    ):
        assert says in out, (says, out)


async def test_open_dry_run_prints_the_preview_and_opens_nothing(cli: Cli, rig: Rig) -> None:
    await known_segment(rig)
    code, out, err = await cli("incident", "open", *TEXTS, *MATCH, "--dry-run")
    assert code == 0, err
    assert not out.strip().isdigit() and "affected: 8 customers" in out
    view = await cli.json("incident", "open", *TEXTS, *MATCH, "--dry-run")
    assert isinstance(view, dict) and set(view) == PREVIEW_KEYS
    assert await cli.json("incident", "list") == []
    assert await rig.store.incidents_to_plan(rig.clock.now() + timedelta(days=1)) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("preview",), "--match"),
        (("preview", "--match", "carrier=andreani"), "unknown field"),
        (("preview", *MATCH, "--updates-on", "fax"), "--updates-on"),
        (("preview", *MATCH, "--estimate", "2020-01-01T00:00Z"), "has passed"),
        (("preview", *MATCH, "--message", "Perdón. " * 60), "segments"),
        (("open", *TEXTS, *MATCH, "--json"), "--dry-run"),
        (("open", "--title", "x", "--dry-run"), "--match"),
        (("show", "1", "--watch", "--json"), "--watch"),
    ],
)
async def test_bad_input_is_a_usage_error_naming_the_option(
    cli: Cli, rig: Rig, args: tuple[str, ...], says: str
) -> None:
    code, out, err = await cli("incident", *args)
    assert code == 2, (out, err)
    assert says in err
    assert await cli.json("incident", "list") == []


async def _watching(iid: str) -> asyncio.subprocess.Process:
    """`notifier incident show ID --watch` in a process of its own, stdout a pipe."""
    env = {k: v for k, v in os.environ.items() if k.startswith("NOTIFIER_")}
    env |= {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "notifier", "incident", "show", iid, "--watch", "--every", "0.05",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_show_watch_into_a_pipe_prints_each_change_and_ends_when_settled(
    cli: Cli, rig: Rig
) -> None:
    await known_segment(rig)
    code, out, err = await cli("incident", "open", *TEXTS, *MATCH, "--by", "ana")
    assert code == 0, err
    iid = out.strip()
    proc = await _watching(iid)
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    assert first.startswith(b"affected 0, told 0, pending 0")  # before the planner's look
    rig.clock.advance(timedelta(minutes=1))
    await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
    await rig.dispatcher.dispatch_until_idle()
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, stderr
    lines = [first.decode().rstrip("\n"), *stdout.decode().splitlines()]
    assert lines[-1] == f"incident {iid}: fan-out settled"
    assert len(lines) == len(set(lines))  # one line per change, none repeated
    # Customers with a channel are told, the opted out and the one with no address skipped
    # (the forgotten one is not affected); 7 settled of 7.
    assert lines[-2].startswith("affected 7, told 5, pending 0, deferred 0, held 0, failed 0, "
                                "skipped 2") and lines[-2].endswith("(100%)")  # fmt: skip
    assert b"\x1b[" not in stdout  # no redrawing into a pipe


async def test_watch_on_a_terminal_redraws_the_bar_in_place_until_settled(
    cli: Cli, rig: Rig
) -> None:
    await known_segment(rig)
    code, out, err = await cli("incident", "open", *TEXTS, *MATCH)
    assert code == 0, err
    incidents = Incidents(rig.store, rig.clock, None)
    screen = io.StringIO()
    watching = asyncio.create_task(
        watch(incidents, int(out), screen, tty=True, every=timedelta(seconds=0.05))
    )
    await _until(lambda: "affected 0" in screen.getvalue())  # a frame before the planner
    rig.clock.advance(timedelta(minutes=1))
    await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
    await rig.dispatcher.dispatch_until_idle()
    await asyncio.wait_for(watching, timeout=60)
    drawn = screen.getvalue()
    assert "\x1b[" in drawn  # each frame backs up over the last one and clears it
    last = drawn.rsplit("\x1b[J", 1)[-1].splitlines()
    assert last[0] == f"incident {int(out)}: Paro de transportistas (investigating)"
    assert last[1] == f"[{'#' * 30}] 100%  7 of 7"
    assert last[2].startswith("affected 7, told 5, pending 0")
    assert "  sms: told 4" in last and last[-1] == f"incident {int(out)}: fan-out settled"


async def _until(condition: Callable[[], bool], deadline: float = 60) -> None:
    give_up = asyncio.get_running_loop().time() + deadline
    while not condition():
        assert asyncio.get_running_loop().time() < give_up, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_ctrl_c_ends_the_watch_with_exit_0_and_no_traceback(cli: Cli, rig: Rig) -> None:
    await known_segment(rig)
    code, out, err = await cli("incident", "open", *TEXTS, *MATCH)
    assert code == 0, err
    proc = await _watching(out.strip())
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    assert first.startswith(b"affected 0")  # never planned here: it would watch forever
    proc.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, stderr
    assert b"Traceback" not in stdout + stderr
    assert b"fan-out settled" not in stdout
