"""Crisis detection (issue 20) on a real store, both databases, with the test clock.

A burst of one carrier in one region proposes exactly one incident with its segment and
numbers; the same breaks spread over many carriers propose none; a group's usual rate is
no crisis (baseline); two stores at once, or a restart during ``for``, make one incident;
confirm starts the fan-out and dismiss tells nobody; at risk counts what an at-risk rule
warned about.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from notifier.domain.detection import CrisisRule, Thresholds
from notifier.domain.incidents import Severity
from notifier.domain.ingest import PromiseData
from notifier.domain.models import CustomerId, Source
from notifier.engine.crisis.commands import Incidents, Texts
from notifier.engine.crisis.detector import detect
from notifier.engine.crisis.planner import plan_incidents
from notifier.store.store import Store
from tests.integration.poison import notification_rows
from tests.integration.rig import Rig

RULE = CrisisRule(
    id="carrier-breakdown",
    match={"kind": ("delivery",)},
    group_by=("attributes.carrier", "attributes.region"),
    window=timedelta(hours=2),
    when=Thresholds(broken_at_least=10, share_at_least=0.2, above_baseline=3.0),
    hold=timedelta(minutes=10),
    titles={"es": "Demoras con {{ group.carrier }} en {{ group.region }}"},
    severity=Severity.MAJOR,
)
CUSTOMERS = ("c-1", "c-2", "c-3")


async def _customers(rig: Rig) -> None:
    await rig.customer("c-1")
    await rig.customer("c-2", last_used="email", phone=None)
    await rig.customer("c-3", phone="+5491155550103")


async def _promises(rig: Rig, due_in: timedelta, *groups: tuple[str, str, int]) -> None:
    """Add ``n`` promises of each (carrier, region, n), spread over the customers."""
    data = []
    for carrier, region, n in groups:
        for i in range(n):
            ref = f"{carrier}-{region}-{rig.clock.now():%j%H%M}-{i}"
            attributes = {"carrier": carrier, "region": region, "order_id": ref}
            cid = CustomerId(CUSTOMERS[i % len(CUSTOMERS)])
            data.append(PromiseData(cid, "delivery", rig.clock.now() + due_in, ref,
                                    attributes=attributes))  # fmt: skip
    await rig.ledger.put_promises(data, Source.API)


async def _detect(store: Store, rig: Rig, rule: CrisisRule = RULE) -> int:
    return await detect(store, [rule], rig.clock.now(), "es")


async def _burst(rig: Rig) -> None:
    """12 deliveries of andreani in AMBA break, beside calm ones that are kept due later."""
    await _customers(rig)
    await _promises(rig, timedelta(minutes=1), ("andreani", "AMBA", 12))
    await _promises(rig, timedelta(days=1), ("andreani", "Córdoba", 10), ("oca", "AMBA", 10))
    rig.clock.advance(timedelta(minutes=5))
    report = await rig.scan()
    assert report.broken == 12


async def _ops_mails(store: Store) -> list[dict[str, object]]:
    return [r for r in await notification_rows(store) if r["message"] == "ops_crisis_detected"]


async def test_a_burst_of_one_carrier_and_region_proposes_one_incident(rig: Rig) -> None:
    await _burst(rig)
    assert await _detect(rig.store, rig) == 0  # holds, but not yet for 10 minutes
    assert await rig.store.list_incidents() == []
    rig.clock.advance(timedelta(minutes=10))
    assert await _detect(rig.store, rig) == 1
    rig.clock.advance(timedelta(minutes=1))
    assert await _detect(rig.store, rig) == 0  # its incident is open: no retrigger
    [incident] = await rig.store.list_incidents()
    assert incident.detected and incident.awaiting_confirmation and incident.is_open
    assert incident.status.value == "investigating"
    assert dict(incident.segment.spec) == {
        "kind": ["delivery"], "attributes.carrier": ["andreani"], "attributes.region": ["AMBA"],
    }  # fmt: skip
    assert dict(incident.titles) == {"es": "Demoras con andreani en AMBA"}
    [found] = await rig.store.incident_detections(incident.id)
    assert found.kind == "proposed"
    assert found.group == {"attributes.carrier": "andreani", "attributes.region": "AMBA"}
    n = found.numbers
    assert (n.broken, n.due, n.share, n.baseline) == (12, 12, 1.0, 1.0)
    assert len(found.examples) == 10
    assert all(e.ref.startswith("andreani-AMBA-") for e in found.examples)
    [mail] = await _ops_mails(rig.store)
    assert mail["customer_id"] is None
    await rig.dispatcher.dispatch_until_idle()
    [sent] = rig.smtp.received
    assert sent.rcpt_tos == ["ops@acme.example"]
    part = sent.parsed().get_body(("plain",))
    assert part is not None
    body = part.get_content()
    assert f"notifier incident confirm {incident.id}" in body
    assert "12 broken of 12 due (100%)" in body


async def test_the_same_breaks_spread_over_many_carriers_propose_none(rig: Rig) -> None:
    await _customers(rig)
    carriers = [(f"carrier{i}", "AMBA", 1) for i in range(12)]
    await _promises(rig, timedelta(minutes=1), *carriers)
    rig.clock.advance(timedelta(minutes=5))
    assert (await rig.scan()).broken == 12
    for _ in range(3):
        assert await _detect(rig.store, rig) == 0
        rig.clock.advance(timedelta(minutes=10))
    assert await rig.store.list_incidents() == []


async def test_a_group_breaking_at_its_usual_rate_is_no_crisis(rig: Rig) -> None:
    daily = CrisisRule(
        "daily", {"kind": ("delivery",)}, ("attributes.carrier",), timedelta(days=1),
        Thresholds(broken_at_least=10, above_baseline=3.0), titles={"es": "x"},
    )  # fmt: skip
    await _customers(rig)
    for _ in range(7):  # a week of oca breaking 12 a day
        await _promises(rig, timedelta(hours=1), ("oca", "AMBA", 12))
        rig.clock.advance(timedelta(days=1))
        await rig.scan()
    await _promises(rig, timedelta(minutes=1), ("oca", "AMBA", 12), ("andreani", "AMBA", 12))
    rig.clock.advance(timedelta(minutes=5))
    await rig.scan()
    assert await _detect(rig.store, rig, daily) == 1
    [incident] = await rig.store.list_incidents()
    assert incident.segment.spec["attributes.carrier"] == ["andreani"]
    [found] = await rig.store.incident_detections(incident.id)
    assert found.numbers.baseline == 1.0  # andreani has no history


async def test_two_stores_at_once_and_a_restart_during_for_make_one_incident(
    rig: Rig, db_url: str
) -> None:
    await _burst(rig)
    assert await _detect(rig.store, rig) == 0
    await rig.store.close()  # a restart: the state is in the database
    first, second = Store.open(db_url), Store.open(db_url)
    try:
        rig.clock.advance(timedelta(minutes=4))
        assert await _detect(first, rig) == 0
        rig.clock.advance(timedelta(minutes=7))
        fired = await asyncio.gather(_detect(first, rig), _detect(second, rig))
        assert sorted(fired) == [0, 1]
        assert len(await first.list_incidents()) == 1
        assert len(await _ops_mails(first)) == 1
    finally:
        await first.close()
        await second.close()


async def _proposed(rig: Rig) -> int:
    await _burst(rig)
    await _detect(rig.store, rig)
    rig.clock.advance(timedelta(minutes=10))
    assert await _detect(rig.store, rig) == 1
    [incident] = await rig.store.list_incidents()
    return incident.id


def _service(rig: Rig) -> Incidents:
    return Incidents(rig.store, rig.clock, rig.dispatcher.composer.renderer, "es", 2)


async def _crisis_sent(store: Store) -> list[str]:
    rows = await notification_rows(store)
    return sorted(
        str(r["customer_id"])
        for r in rows
        if r["incident_id"] is not None and r["status"] == "sent"
    )


async def _round(rig: Rig) -> None:
    await rig.scan()
    await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
    await rig.dispatcher.dispatch_until_idle()


async def test_confirm_starts_the_fan_out(rig: Rig) -> None:
    iid = await _proposed(rig)
    await _round(rig)
    assert await _crisis_sent(rig.store) == []  # nobody told before confirmation
    await _service(rig).confirm(iid, "ana")
    await _round(rig)
    assert await _crisis_sent(rig.store) == list(CUSTOMERS)


async def test_dismiss_tells_nobody_and_the_group_fires_again_only_after_a_calm_window(
    rig: Rig,
) -> None:
    iid = await _proposed(rig)
    await _service(rig).dismiss(iid, "ana")
    await _round(rig)
    assert await _crisis_sent(rig.store) == []
    history = await rig.store.incident_history(iid)
    assert [h.kind for h in history] == ["opened", "dismissed"]
    rig.clock.advance(timedelta(minutes=30))
    assert await _detect(rig.store, rig) == 0  # still holding: no new episode
    rig.clock.advance(timedelta(hours=2))  # the breaks leave the window: false
    assert await _detect(rig.store, rig) == 0
    [detection] = await rig.store.incident_detections(iid)
    assert detection.no_longer_holds_since == rig.clock.now()
    rig.clock.advance(timedelta(hours=2))  # false a whole window: armed again
    assert await _detect(rig.store, rig) == 0
    await _promises(rig, timedelta(minutes=1), ("andreani", "AMBA", 12))
    rig.clock.advance(timedelta(minutes=5))
    await rig.scan()
    assert await _detect(rig.store, rig) == 0
    rig.clock.advance(timedelta(minutes=10))
    assert await _detect(rig.store, rig) == 1  # holds anew: a second proposal
    assert len(await rig.store.list_incidents()) == 2


async def test_a_detection_an_open_incident_covers_attaches_to_it(rig: Rig) -> None:
    await _customers(rig)
    opened = await _service(rig).open(
        titles=_texts("Paro de andreani"), messages=_texts(None), severity=Severity.MAJOR,
        match=["attributes.carrier=andreani"], estimate=None, by="ana",
    )  # fmt: skip
    await _promises(rig, timedelta(minutes=1), ("andreani", "AMBA", 12))
    rig.clock.advance(timedelta(minutes=5))
    await rig.scan()
    await _detect(rig.store, rig)
    rig.clock.advance(timedelta(minutes=10))
    assert await _detect(rig.store, rig) == 1
    assert [i.id for i in await rig.store.list_incidents()] == [opened]
    [found] = await rig.store.incident_detections(opened)
    assert (found.kind, found.numbers.broken) == ("attached", 12)
    assert await _ops_mails(rig.store) == []


def _texts(text: str | None) -> Texts:
    return Texts(text, (), "--title")


async def test_notify_customers_immediately_starts_the_playbook_at_once(rig: Rig) -> None:
    await _burst(rig)
    now = replace(RULE, notify_customers="immediately", hold=timedelta(0))
    assert await _detect(rig.store, rig, now) == 1
    [incident] = await rig.store.list_incidents()
    assert incident.detected and not incident.awaiting_confirmation
    await _round(rig)
    assert await _crisis_sent(rig.store) == list(CUSTOMERS)


async def test_at_risk_counts_open_promises_an_at_risk_rule_warned_about(rig: Rig) -> None:
    warned = replace(RULE, id="warned", count=frozenset({"broken", "at_risk"}))
    await _customers(rig)
    for i in range(4):  # delivery-at-risk warns about a delayed one; the others hear nothing
        await rig.promise(CUSTOMERS[i % 3], f"late-{i}", timedelta(minutes=90),
                          region="AMBA", carrier="andreani", carrier_status="delayed")  # fmt: skip
        await rig.promise(CUSTOMERS[i % 3], f"calm-{i}", timedelta(minutes=90),
                          region="AMBA", carrier="andreani")  # fmt: skip
    await rig.scan()
    assert await rig.store.crisis_counts(warned, rig.clock.now()) == []  # not sent yet
    await rig.dispatcher.dispatch_until_idle()
    sent = [r for r in await notification_rows(rig.store) if r["message"] == "delivery_at_risk"]
    assert len(sent) == 4 and {r["status"] for r in sent} == {"sent"}
    [count] = await rig.store.crisis_counts(warned, rig.clock.now())
    assert (count.values, count.broken, count.due) == (("andreani", "AMBA"), 4, 4)
    assert await rig.store.crisis_counts(RULE, rig.clock.now()) == []  # breaks only: none
    # Rescheduled, late-0 breaks (counted once, as a break); its warning was about the old
    # deadline, so it is not at risk too.
    await rig.promise(CUSTOMERS[0], "late-0", timedelta(minutes=100),
                      region="AMBA", carrier="andreani", carrier_status="delayed")  # fmt: skip
    [count] = await rig.store.crisis_counts(warned, rig.clock.now())
    assert (count.broken, count.due) == (4, 3)


async def test_a_rule_grouping_by_a_customer_field_counts_each_value_apart(rig: Rig) -> None:
    by_locale = CrisisRule(
        "by-locale", {"kind": ("delivery",)}, ("customer.locale", "attributes.carrier"),
        timedelta(hours=2), Thresholds(broken_at_least=8, above_baseline=3.0),
        titles={"es": "Demoras en {{ group.locale }}"},
    )  # fmt: skip
    await rig.customer("c-1", locale="es-AR")
    await rig.customer("c-2", locale="es-AR")
    await rig.customer("c-3", locale="pt-BR")
    await _promises(rig, timedelta(minutes=1), ("andreani", "AMBA", 12))  # 8 es-AR, 4 pt-BR
    rig.clock.advance(timedelta(minutes=5))
    assert (await rig.scan()).broken == 12
    counts = {c.values: c.broken for c in await rig.store.crisis_counts(by_locale, rig.clock.now())}
    assert counts == {("es-AR", "andreani"): 8, ("pt-BR", "andreani"): 4}
    assert await rig.store.crisis_history(by_locale, rig.clock.now()) == {}
    assert await _detect(rig.store, rig, by_locale) == 1
    [incident] = await rig.store.list_incidents()
    assert dict(incident.segment.spec) == {
        "kind": ["delivery"], "customer.locale": ["es-AR"], "attributes.carrier": ["andreani"],
    }  # fmt: skip
    [found] = await rig.store.incident_detections(incident.id)
    assert len(found.examples) == 8
    # A day later those breaks are history: the baseline of es-AR/andreani reads them.
    rig.clock.advance(timedelta(days=1))
    history = await rig.store.crisis_history(by_locale, rig.clock.now())
    assert history == {("es-AR", "andreani"): 8, ("pt-BR", "andreani"): 4}


async def test_a_title_that_fails_to_render_still_proposes_the_incident(rig: Rig) -> None:
    titles = {"es": "Demoras {{ 1 / 0 }}", "en": "Delays with {{ group.carrier | title }}"}
    await _burst(rig)
    await _detect(rig.store, rig, replace(RULE, titles=titles))
    rig.clock.advance(timedelta(minutes=10))
    assert await _detect(rig.store, rig, replace(RULE, titles=titles)) == 1
    [incident] = await rig.store.list_incidents()
    assert dict(incident.titles) == {
        "es": "carrier-breakdown: andreani, AMBA",
        "en": "Delays with Andreani",
    }
    assert incident.detected and incident.awaiting_confirmation
