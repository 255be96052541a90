"""The segment decided by SQL joins exactly whom the rules' matcher says it covers, both databases.

``store/incident_segments.py`` turns a segment's conditions into WHERE clauses where the database
decides them as ``Segment.covers`` does, and leaves the others to the matcher. Over a
ledger of awkward attributes (3, 3.0, "3", true, "true", 1, an object, a missing key,
accents, case), countries read off phone numbers, settled and broken promises and a
forgotten customer, every segment below joins the customers the matcher finds, no more and
no fewer, with spans of one to three promise ids (so that several spans are read).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import literal, select, update

from notifier.domain.incidents import UNSETTLED, Severity, parse_match, segment_of
from notifier.domain.ingest import PromiseData
from notifier.domain.models import CustomerId, Source
from notifier.engine.crisis.commands import Incidents
from notifier.engine.crisis.planner import FULL_SWEEP, SWEEP, Sweeps, plan_incidents
from notifier.engine.crisis.texts import Texts
from notifier.store import incident_plans
from notifier.store.convert import (
    customers,
    incident_customers,
    notifications,
    promises,
    to_customer,
    to_promise,
)
from notifier.store.incident_segments import segment_sql
from tests.integration.rig import Rig

# (customer, phone, locale, country), then each promise: (ref, kind, hours due, attributes).
Item = tuple[str, str, int, dict[str, Any]]
LEDGER: list[tuple[str, str | None, str, str | None, list[Item]]] = [
    ("c-ar", "+5491155550101", "es-AR", None, [
        ("R-1", "delivery", 5, {"carrier": "andreani", "region": "AMBA", "amount": 3}),
        ("R-2", "delivery", 6, {"carrier": "oca", "region": "Córdoba", "amount": 3.0}),
    ]),
    ("c-br", "+5511955550102", "pt-BR", None, [
        ("R-3", "refund", 5, {"carrier": "Andreani", "amount": "3", "express": True}),
    ]),
    ("c-en", None, "en", "US", [
        ("R-4", "delivery", 2, {"carrier": "andreani", "express": "true", "meta": {"x": 1}}),
        ("R-5", "delivery", -2, {"carrier": "andreani", "express": 1}),  # broken by the scan
    ]),
    ("c-mx", "+5215555550104", "es", "MX", [
        ("R-6", "delivery", 5, {"carrier": "3", "region": "AMBA", "amount": 4}),
        ("R-7", "callback", 5, {"region": ["AMBA"], "note": "null", "n": None}),
    ]),
    ("c-gone", "+5491155550105", "es", None, [
        ("R-8", "delivery", 5, {"carrier": "andreani"}),
    ]),
    ("c-kept", "+5491155550106", "es", None, [
        ("R-9", "delivery", 5, {"carrier": "andreani"}),  # kept below: settled
    ]),
]  # fmt: skip

SEGMENTS = [
    ["attributes.carrier=andreani"],
    ["attributes.carrier=andreani,oca", "kind=delivery"],
    ["attributes.carrier=Andreani"],
    ["attributes.carrier=3"],
    ["attributes.amount=3"],
    ["attributes.amount=3.0"],
    ["attributes.express=true"],
    ["attributes.region=Córdoba"],
    ["attributes.region=AMBA", "customer.locale=es,es-AR"],
    ["attributes.meta.x=1"],
    ["attributes.note=null"],
    ["attributes.n=null"],
    ["attributes.missing=x"],
    ["customer.country=BR"],
    ["customer.country=AR", "kind=delivery"],
    ["customer.locale=en"],
    ["due_at<now+4h"],
    ["due_at>now+4h", "kind=delivery,refund"],
    ["external_ref=R-1,R-5,R-9"],
    ["status=broken"],
    ["status=open", "attributes.carrier=andreani"],
]


async def _ledger(rig: Rig) -> None:
    for cid, phone, locale, country, items in LEDGER:
        await rig.customer(cid, phone=phone, locale=locale, country=country)
        for ref, kind, hours, attributes in items:
            due = rig.clock.now() + timedelta(hours=hours)
            data = PromiseData(CustomerId(cid), kind, due, ref, attributes=attributes)
            promise, _ = await rig.ledger.put_promise(data, Source.API)
            if ref == "R-9":
                await rig.ledger.keep(promise.id, Source.API)
    await rig.scan()  # R-5 is past due: broken
    await rig.ledger.forget("c-gone")


async def _covered(rig: Rig, match: list[str]) -> set[str]:
    segment = segment_of(parse_match(match, rig.clock.now()))
    p = promises.c
    query = select(*promises.c, *(c.label(f"c_{c.name}") for c in customers.c)).select_from(
        promises.join(customers, customers.c.id == p.customer_id)
    )
    out = set()
    async with rig.store.reading() as conn:
        for row in (await conn.execute(query)).mappings():
            values = dict(row)
            customer = to_customer({k[2:]: v for k, v in values.items() if k.startswith("c_")})
            promise = to_promise({k: v for k, v in values.items() if not k.startswith("c_")})
            if segment.covers(promise, customer):
                out.add(str(customer.id))
    return out


async def _joined(rig: Rig, iid: int) -> set[str]:
    ic = incident_customers.c
    async with rig.store.reading() as conn:
        rows = await conn.execute(select(ic.customer_id).where(ic.incident_id == iid))
        return {r[0] for r in rows}


async def test_sql_joins_whom_the_matcher_covers(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incident_plans, "JOIN_FIRST", 1)
    monkeypatch.setattr(incident_plans, "JOIN_SPAN", 3)
    monkeypatch.setattr(incident_plans, "JOIN_BATCH", 2)
    await _ledger(rig)
    service = Incidents(rig.store, rig.clock, None, "es", 2)
    seen_exact = set()
    for match in SEGMENTS:
        iid = await service.open(
            titles=Texts("Paro", (), "--title"), messages=Texts(None), severity=Severity.MAJOR,
            match=match, estimate=None, by="test",
        )  # fmt: skip
        incident = await rig.store.incident(iid)
        joined = [n async for n in rig.store.join_affected(incident, None, rig.clock.now())]
        expected = await _covered(rig, match)
        assert await _joined(rig, iid) == expected, match
        assert sum(n.customers for n in joined) == len(expected), match
        assert sum(n.rows for n in joined) == len(expected), match  # planned as they joined
        again = [n async for n in rig.store.join_affected(incident, None, rig.clock.now())]
        assert sum(n.customers + n.rows for n in again) == 0, (
            match
        )  # a second look joins nobody twice
        exact = segment_sql(incident.segment, rig.store.dialect, promises, customers).exact
        seen_exact.add(exact)
    assert seen_exact == {True, False}  # both paths were taken
    assert UNSETTLED == ("open", "broken")


async def test_sweeps_read_newer_promises_and_all_of_them_every_full_sweep(rig: Rig) -> None:
    await rig.customer("c-1")
    await rig.promise("c-1", "A-1", timedelta(hours=5), carrier="andreani")
    await rig.customer("c-2", phone="+5491155550102")
    await rig.promise("c-2", "B-1", timedelta(hours=5), carrier="oca")
    service = Incidents(rig.store, rig.clock, None, "es", 2)
    iid = await service.open(
        titles=Texts("Paro", (), "--title"), messages=Texts(None), severity=Severity.MAJOR,
        match=["attributes.carrier=andreani"], estimate=None, by="test",
    )  # fmt: skip
    sweeps = Sweeps()

    async def sweep(after: timedelta) -> set[str]:
        rig.clock.advance(after)
        await plan_incidents(rig.store, rig.clock.now(), None, sweeps)
        return await _joined(rig, iid)

    assert await sweep(timedelta(0)) == {"c-1"}
    await rig.customer("c-3", phone="+5491155550103")
    await rig.promise("c-3", "C-1", timedelta(hours=5), carrier="andreani")  # a new promise
    await rig.promise("c-2", "B-1", timedelta(hours=5), carrier="andreani")  # an edited one
    assert await sweep(SWEEP) == {"c-1", "c-3"}  # the newer promises only
    assert await sweep(FULL_SWEEP) == {"c-1", "c-2", "c-3"}  # every one, now and then
    assert await _joined(rig, iid) == await _covered(rig, ["attributes.carrier=andreani"])
    # A replica with no memory of the incident sweeps in full.
    await rig.promise("c-1", "A-1", timedelta(hours=5), carrier="oca")
    await plan_incidents(rig.store, rig.clock.now() + SWEEP, None, Sweeps())
    assert await _joined(rig, iid) == {"c-1", "c-2", "c-3"}  # joined stays joined


async def test_a_promise_whose_attributes_are_not_json_is_left_out_and_the_others_join(
    rig: Rig,
) -> None:
    await rig.customer("c-1")
    await rig.promise("c-1", "A-1", timedelta(hours=5), carrier="andreani")
    await rig.customer("c-2", phone="+5491155550102")
    bad = await rig.promise("c-2", "A-2", timedelta(hours=5), carrier="andreani")
    if rig.store.dialect.name == "sqlite":  # PostgreSQL's json type refuses it on write
        async with rig.store.transaction() as conn:
            await conn.execute(
                update(promises).where(promises.c.id == bad).values(attributes=literal("{oops"))
            )
    service = Incidents(rig.store, rig.clock, None, "es", 2)
    iid = await service.open(
        titles=Texts("Paro", (), "--title"), messages=Texts(None), severity=Severity.MAJOR,
        match=["attributes.carrier=andreani"], estimate=None, by="test",
    )  # fmt: skip
    await plan_incidents(rig.store, rig.clock.now(), None)
    expected = {"c-1"} if rig.store.dialect.name == "sqlite" else {"c-1", "c-2"}
    assert await _joined(rig, iid) == expected


async def test_spans_at_once_over_shared_customers_join_and_plan_each_once(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spans of 2 then 4 ids, two at once on PostgreSQL; each customer has a promise near
    # the start and one near the end, in opposite orders, so spans in flight together
    # share customers and would take their keys crosswise if not in customer order.
    monkeypatch.setattr(incident_plans, "JOIN_FIRST", 2)
    monkeypatch.setattr(incident_plans, "JOIN_SPAN", 4)
    count = 24
    for i in range(count):
        await rig.customer(f"c-{i:02d}", phone=f"+54911555501{i:02d}")
    for i in list(range(count)) + list(reversed(range(count))):
        await rig.promise(f"c-{i:02d}", f"A-{i}-{rig.clock.now().microsecond}", timedelta(hours=5),
                          carrier="andreani")  # fmt: skip
        rig.clock.advance(timedelta(microseconds=1))
    service = Incidents(rig.store, rig.clock, None, "es", 2)
    iid = await service.open(
        titles=Texts("Paro", (), "--title"), messages=Texts(None), severity=Severity.MAJOR,
        match=["attributes.carrier=andreani"], estimate=None, by="test",
    )  # fmt: skip
    incident = await rig.store.incident(iid)
    spans = [n async for n in rig.store.join_affected(incident, None, rig.clock.now())]
    assert len(spans) > 4  # several spans were read
    assert (sum(s.customers for s in spans), sum(s.rows for s in spans)) == (count, count)
    n, ic = notifications.c, incident_customers.c
    async with rig.store.reading() as conn:
        keys = [r[0] for r in await conn.execute(select(n.dedupe_key).where(n.incident_id == iid))]
        planned = {
            r[0] for r in await conn.execute(select(ic.planned).where(ic.incident_id == iid))
        }
    assert sorted(keys) == sorted(
        f"incident:{iid}:customer:c-{i:02d}:update:0" for i in range(count)
    )
    assert planned == {0}  # no one left joining
