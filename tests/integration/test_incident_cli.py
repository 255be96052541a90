"""`notifier incident ...` as scripts and runbooks call it: shapes, outputs, exit codes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifier.engine.crisis.planner import plan_incidents
from tests.integration.cli_runner import Cli
from tests.integration.rig import Rig


async def _two_customers(rig: Rig) -> None:
    await rig.customer("c-1")
    await rig.promise("c-1", "A-1", timedelta(hours=5), carrier="andreani", region="AMBA")
    await rig.promise("c-1", "A-2", timedelta(hours=7), carrier="andreani", region="Córdoba")
    await rig.customer("c-2", last_used="email", phone=None)
    await rig.promise("c-2", "A-3", timedelta(hours=5), carrier="andreani", region="Salta")


async def _open(cli: Cli, *extra: str) -> int:
    code, out, err = await cli(
        "incident", "open", "--title", "Paro de Andreani", "--title-locale", "en=Carrier strike",
        "--severity", "major", "--match", "kind=delivery", "--match", "attributes.carrier=andreani",
        "--match", "attributes.region=AMBA,Córdoba", "--message", "Un paro frena los envíos.",
        "--message-locale", "pt-BR=Uma greve atrasa as entregas.", "--by", "ana", *extra,
    )  # fmt: skip
    assert code == 0, err
    assert out.strip().isdigit(), out  # the id alone on stdout
    return int(out)


async def test_open_prints_the_id_alone_and_list_and_show_report_it(cli: Cli, rig: Rig) -> None:
    await _two_customers(rig)
    iid = await _open(cli)
    rig.clock.advance(timedelta(minutes=1))  # the CLI's clock started at the rig's instant
    await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
    await rig.dispatcher.dispatch_until_idle()
    items = await cli.json("incident", "list")
    assert isinstance(items, list) and items[0]["id"] == iid
    item = items[0]
    for key in ("id", "status", "title", "severity", "segment", "detected", "counts"):
        assert key in item
    assert item["status"] == "investigating" and item["severity"] == "major"
    assert item["segment"]["attributes.region"] == ["AMBA", "Córdoba"]
    assert item["detected"] is False
    shown = await cli.json("incident", "show", str(iid))
    assert isinstance(shown, dict)
    assert shown["counts"]["affected"] == 1, shown
    assert shown["counts"]["told"] == 1, shown  # c-2 is in Salta
    assert shown["counts"]["by_channel"]["sms"]["told"] == 1
    assert [h["kind"] for h in shown["history"]] == ["opened"]
    assert shown["history"][0]["by"] == "ana"
    assert shown["history"][0]["texts"]["pt-BR"] == "Uma greve atrasa as entregas."
    code, out, _ = await cli("incident", "show", str(iid))
    assert code == 0 and "affected 1" in out and "told 1" in out and "opened" in out


async def test_update_pause_resume_resolve_and_their_history(cli: Cli, rig: Rig) -> None:
    await _two_customers(rig)
    iid = await _open(cli)
    for args in (
        ("update", str(iid), "--message", "Ya sabemos la causa.", "--status", "identified",
         "--estimate", "now+1d", "--by", "bea"),
        ("pause", str(iid)),
        ("resume", str(iid)),
        ("resolve", str(iid), "--message", "Se normalizaron los envíos."),
    ):  # fmt: skip
        code, _, err = await cli("incident", *args)
        assert code == 0, (args, err)
    shown = await cli.json("incident", "show", str(iid))
    assert isinstance(shown, dict)
    kinds = [h["kind"] for h in shown["history"]]
    assert kinds == ["opened", "update", "paused", "resumed", "resolved"]
    assert shown["history"][1]["by"] == "bea" and shown["history"][1]["estimate_at"]
    assert shown["status"] == "resolved"
    code, _, err = await cli("incident", "update", str(iid), "--message", "otra")
    assert code == 1 and "resolved" in err


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("open", "--title", "x"), 2, "--match"),
        (("open", "--title", "x", "--match", "carrier=andreani"), 2, "unknown field"),
        (("open", "--title", "x", "--match", "kind=delivery", "--severity", "huge"), 2, "huge"),
        (("open", "--title", "x", "--match", "kind=delivery", "--message-locale", "nope"), 2,
         "LOCALE=TEXT"),
        (("open", "--title", "x", "--match", "kind=delivery", "--estimate", "tomorrow"), 2,
         "--estimate"),
        (("open", "--title", "x", "--match", "kind=delivery", "--estimate", "2020-01-01T00:00Z"),
         2, "has passed"),
        (("open", "--title", "x", "--match", "kind=delivery", "--message", "Perdón. " * 60), 2,
         "segments"),
        (("update", "999", "--message", "x"), 1, "no incident 999"),
        (("update", "0"), 2, "'ID'"),
        (("update", "1", "--status", "resolved"), 2,
         "use one of investigating, identified, monitoring"),
        (("confirm", "999"), 1, "no incident"),
    ],
)  # fmt: skip
async def test_bad_input_is_refused_with_its_reason_and_exit_code(
    cli: Cli, rig: Rig, args: tuple[str, ...], code: int, says: str
) -> None:
    got, out, err = await cli("incident", *args)
    assert got == code, (out, err)
    assert says in err
    assert await cli.json("incident", "list") == []


async def test_confirm_and_dismiss_refuse_an_incident_opened_by_a_person(
    cli: Cli, rig: Rig
) -> None:
    await _two_customers(rig)
    iid = await _open(cli)
    code, _, err = await cli("incident", "confirm", str(iid))
    assert code == 1 and "needs no confirmation" in err
    code, _, err = await cli("incident", "dismiss", str(iid))
    assert code == 1 and "resolve it instead" in err
    code, _, err = await cli("incident", "pause", str(iid))
    assert code == 0
    code, _, err = await cli("incident", "pause", str(iid))
    assert code == 1 and "paused already" in err
