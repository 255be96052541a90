"""Pre-flight against a known segment on a real store, both databases, shipped templates.

Customers with several promises, on mixed channels and locales; one opted out, one with no
address, one forgotten; WhatsApp inside and outside the 24 h window, with and without an
approved Content Template. The preview writes nothing; what it counts is what the planner
then joins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from notifier.domain.incidents import Segment, Severity, parse_match, segment_of
from notifier.domain.ingest import CustomerData, InteractionData
from notifier.domain.models import Customer, CustomerId, Direction, Promise
from notifier.domain.preflight import Preview
from notifier.engine.crisis.commands import Incidents
from notifier.engine.crisis.planner import plan_incidents
from notifier.engine.crisis.preflight import Reachability, channel_rates
from notifier.engine.crisis.texts import Texts
from notifier.store import affected
from notifier.store.affected import to_affected
from notifier.store.convert import customers, promises
from notifier.store.incident_segments import segment_sql
from notifier.templates import Company
from tests.integration.poison import notification_rows
from tests.integration.rig import Rig

SIDS = {"crisis_opened.es": "HX00000000000000000000000000000001"}


def _service(rig: Rig) -> Incidents:
    where = Reachability(
        available=frozenset({"sms", "whatsapp", "email"}),  # X is not configured
        rates=channel_rates(rig.settings.rates),
        company=Company.from_settings(rig.settings.messages),
        content_sids=SIDS,
        quiet=rig.rules.defaults.quiet_hours,
    )
    return Incidents(rig.store, rig.clock, rig.dispatcher.composer.renderer, "es", 2, where)


async def _preview(rig: Rig, *, through: bool | None = None) -> Preview:
    return await _service(rig).preview(
        titles=Texts("Paro de transportistas", ("en=Carrier strike",), "--title"),
        messages=Texts("Un paro frena los envíos.", ("en=A strike holds up deliveries.",
                       "pt-BR=Uma greve atrasa as entregas."), "--message"),
        severity=Severity.MAJOR, match=["kind=delivery"], estimate=None, by="ana",
        through_quiet_hours=through,
    )  # fmt: skip


async def _wrote(rig: Rig, cid: str, channel: str) -> None:
    at = rig.clock.now() - timedelta(hours=1)
    await rig.ledger.add_interactions(
        [InteractionData(CustomerId(cid), channel, Direction.INBOUND, at)]  # type: ignore[arg-type]
    )


async def known_segment(rig: Rig) -> None:
    """Eight customers whose ten promises are deliveries, and one outside (a refund)."""
    await rig.customer("c-sms", locale="es-AR")  # 2 promises, by SMS
    await rig.promise("c-sms", "A-1", timedelta(hours=5))
    await rig.promise("c-sms", "A-2", timedelta(hours=6))
    await rig.customer("c-mail", last_used="email", locale="en", phone=None)
    await rig.promise("c-mail", "A-3", timedelta(hours=5))
    await rig.customer("c-wa-in", last_used="whatsapp", locale="pt-BR")  # wrote an hour ago
    await _wrote(rig, "c-wa-in", "whatsapp")
    await rig.promise("c-wa-in", "A-4", timedelta(hours=5))
    await rig.promise("c-wa-in", "A-5", timedelta(hours=8))
    await rig.customer("c-wa-sid", last_used="whatsapp", locale="es")  # 2 days ago: a template
    await rig.promise("c-wa-sid", "A-6", timedelta(hours=5))
    await rig.customer("c-wa-nosid", last_used="whatsapp", locale="en")  # no template: SMS
    await rig.promise("c-wa-nosid", "A-7", timedelta(hours=5))
    await rig.customer("c-opted")
    consent = {"sms": False, "whatsapp": False, "email": False}
    await rig.ledger.put_customers([CustomerData(CustomerId("c-opted"), {}, consent)])  # type: ignore[arg-type]
    await rig.promise("c-opted", "A-8", timedelta(hours=5))
    await rig.customer("c-none", last_used=None, phone=None, email=None)
    await rig.promise("c-none", "A-9", timedelta(hours=5))
    await rig.customer("c-gone")
    await rig.promise("c-gone", "A-10", timedelta(hours=5))
    await rig.store.forget_customer("c-gone", rig.clock.now())
    await rig.customer("c-refund")
    await rig.promise("c-refund", "R-1", timedelta(hours=5), kind="refund")


async def test_preview_counts_a_known_segment_by_channel_locale_and_cause(rig: Rig) -> None:
    await known_segment(rig)
    p = await _preview(rig)
    t = p.tally
    assert t.affected.to_json() == {"customers": 8, "promises": 10}
    assert {c: g.to_json() for c, g in t.by_channel.items()} == {
        "sms": {"customers": 2, "promises": 3},  # c-sms, and c-wa-nosid falling back
        "whatsapp": {"customers": 2, "promises": 3},  # c-wa-in, c-wa-sid
        "email": {"customers": 1, "promises": 1},
        "x": {"customers": 0, "promises": 0},
    }
    assert t.by_locale["en"].to_json() == {"customers": 2, "promises": 2}
    assert t.by_locale["pt-BR"].to_json() == {"customers": 1, "promises": 2}
    assert t.by_locale["es"].to_json() == {"customers": 1, "promises": 1}
    assert t.by_locale["es-AR"].customers == 4  # c-sms, c-opted, c-none, c-gone
    causes = {c: g.customers for c, g in t.skipped.items() if g.customers}
    assert causes == {"opted out": 1, "no address": 1, "forgotten": 1}
    assert (t.outside_window, t.templated, t.fell_back) == (2, 1, 1)
    assert [(h.tier, h.customers, h.held_back) for h in p.tiers] == [
        (1_000, 1, 0), (10_000, 1, 0), (100_000, 1, 0)
    ]  # fmt: skip
    assert t.deferred == 0  # noon in Buenos Aires


async def test_samples_render_the_real_opening_with_the_texts_for_a_real_customer(
    rig: Rig,
) -> None:
    await known_segment(rig)
    p = await _preview(rig)
    by_key = {(s.channel, s.locale): s for s in p.samples}
    assert sorted(by_key) == [("email", "en"), ("sms", "en"), ("sms", "es-AR"),
                              ("whatsapp", "es"), ("whatsapp", "pt-BR")]  # fmt: skip
    assert all(s.error is None for s in p.samples), p.samples
    sms = by_key[("sms", "es-AR")]
    assert sms.customer_id == "c-sms" and "Un paro frena los envíos." in (sms.text or "")
    assert sms.segments and sms.segments <= 2
    assert "A strike holds up deliveries." in (by_key[("email", "en")].text or "")
    assert by_key[("email", "en")].subject
    whatsapp = by_key[("whatsapp", "pt-BR")].text or ""
    assert "Uma greve atrasa as entregas." in whatsapp
    assert "A-4" in whatsapp and "A-5" in whatsapp  # both of the customer's promises listed
    # SMS costs each customer the sample's segments; the slowest channel is the fan-out's.
    loads = {x.channel: x for x in p.loads}
    en = by_key[("sms", "en")].segments or 1
    assert loads["sms"].cost == (sms.segments or 1) + en
    assert p.duration == max(x.duration for x in p.loads)
    assert p.duration == timedelta(seconds=loads["sms"].cost / rig.settings.rate_sms)


async def test_the_preview_writes_nothing_and_the_planner_joins_what_it_counted(
    rig: Rig,
) -> None:
    await known_segment(rig)
    p = await _preview(rig)
    assert await _service(rig).list() == []
    iid = await _service(rig).open(
        titles=Texts("Paro", (), "--title"), messages=Texts(None, (), "--message"),
        severity=Severity.MAJOR, match=["kind=delivery"], estimate=None, by="ana",
    )  # fmt: skip
    await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
    counts = await rig.store.incident_counts(iid, rig.clock.now())
    forgotten = p.tally.skipped["forgotten"].customers
    assert counts.affected == p.tally.affected.customers - forgotten
    assert await notification_rows(rig.store, "c-gone") == []


async def test_quiet_hours_defer_unless_the_incident_passes_them(rig: Rig) -> None:
    await known_segment(rig)
    rig.clock.advance(timedelta(hours=14))  # 02:00 in Buenos Aires
    assert (await _preview(rig)).tally.deferred == 5
    assert (await _preview(rig, through=True)).tally.deferred == 0


async def _matched(rig: Rig, match: list[str]) -> tuple[set[str], int]:
    """The customers and promises the rules' matcher selects, reading every row."""
    segment = segment_of(parse_match(match, rig.clock.now()))
    p = promises.c
    query = select(*promises.c, *(c.label(f"c_{c.name}") for c in customers.c)).select_from(
        promises.join(customers, customers.c.id == p.customer_id)
    )
    async with rig.store.reading() as conn:
        rows = (await conn.execute(query)).all()
    chosen = [(pr, cu) for pr, cu in to_affected(rows) if segment.selects(pr, cu)]
    return {str(cu.id) for _, cu in chosen}, len(chosen)


@pytest.mark.parametrize(
    "match",
    [
        pytest.param(["kind=delivery"], id="exact"),
        pytest.param(["kind=delivery", "customer.country=AR"], id="superset"),
        pytest.param(["attributes.carrier=oca", "due_at<now+6h"], id="exact-attribute"),
    ],
)
async def test_the_preview_reads_the_sql_segment_in_spans_and_counts_what_the_matcher_does(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, match: list[str]
) -> None:
    monkeypatch.setattr(affected, "PREVIEW_SPAN", 3)
    await known_segment(rig)
    batches: list[int] = []
    read = rig.store.preview_affected

    async def recorded(segment: Segment) -> AsyncIterator[list[tuple[Promise, Customer]]]:
        async for batch in read(segment):
            batches.append(len(batch))
            yield batch

    monkeypatch.setattr(rig.store, "preview_affected", recorded)
    p = await _service(rig).preview(
        titles=Texts(None), messages=Texts(None), severity=Severity.MAJOR, match=match,
        estimate=None, by="ana",
    )  # fmt: skip
    who, how_many = await _matched(rig, match)
    assert (p.tally.affected.customers, p.tally.affected.promises) == (len(who), how_many)
    assert how_many > 0 and len(batches) >= 4 and max(batches) <= 3  # spans of 3 promise ids
    exact = segment_sql(p.segment, rig.store.dialect, promises, customers).exact
    assert exact is (match[-1] != "customer.country=AR")
