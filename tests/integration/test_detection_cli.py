"""`notifier incident list|show` with a detected incident (issue 20): waiting ones first,
the numbers, the examples and, once the condition stops, since when it no longer holds."""

from __future__ import annotations

from datetime import timedelta

from notifier.domain.detection import CrisisRule, Thresholds
from notifier.domain.ingest import PromiseData
from notifier.domain.models import CustomerId, Source
from notifier.engine.crisis.detector import detect
from tests.integration.cli_runner import Cli
from tests.integration.rig import Rig

RULE = CrisisRule(
    "carrier-breakdown", {"kind": ("delivery",)}, ("attributes.carrier",), timedelta(hours=1),
    Thresholds(broken_at_least=5), titles={"es": "Demoras con {{ group.carrier }}"},
)  # fmt: skip


async def test_list_puts_the_proposal_first_and_show_gives_its_numbers(cli: Cli, rig: Rig) -> None:
    await rig.customer("c-1")
    code, out, err = await cli(
        "incident", "open", "--title", "Otro", "--match", "attributes.carrier=oca", "--by", "ana"
    )
    assert code == 0, err
    manual = int(out)
    data = [
        PromiseData(CustomerId("c-1"), "delivery", rig.clock.now() + timedelta(minutes=1),
                    f"A-{i}", attributes={"carrier": "andreani"})
        for i in range(6)
    ]  # fmt: skip
    await rig.ledger.put_promises(data, Source.API)
    rig.clock.advance(timedelta(minutes=5))
    await rig.scan()
    assert await detect(rig.store, [RULE], rig.clock.now(), "es") == 1
    items = await cli.json("incident", "list")
    assert isinstance(items, list)
    assert [i["id"] for i in items][1:] == [manual]
    proposed = items[0]["id"]
    assert items[0]["detected"] and items[0]["awaiting_confirmation"]
    rig.clock.advance(timedelta(hours=1, minutes=1))  # the breaks leave the window
    assert await detect(rig.store, [RULE], rig.clock.now(), "es") == 0
    code, out, err = await cli("incident", "show", str(proposed))
    assert code == 0, err
    assert "detected: crisis rule carrier-breakdown proposed" in out
    assert "for attributes.carrier=andreani: 6 broken of 6 due (100%), baseline 1 a window" in out
    assert "examples: A-5, A-4, A-3, A-2, A-1, A-0" in out
    assert f"no longer holds since {rig.clock.now().isoformat()}" in out
    assert f"notifier incident confirm {proposed}" in out
    shown = await cli.json("incident", "show", str(proposed))
    assert isinstance(shown, dict)
    [found] = shown["detections"]
    assert found["numbers"] == {"broken": 6, "due": 6, "share": 1.0, "baseline": 1.0}
    assert found["no_longer_holds_since"] == rig.clock.now().isoformat()
    code, _, err = await cli("incident", "dismiss", str(proposed), "--by", "ana")
    assert code == 0, err
