"""Pre-flight arithmetic and routing, pure: fan-out durations, tier holdbacks, reach, tally."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from notifier.domain.fanout_time import (
    ChannelLoad,
    ChannelRate,
    TierHold,
    fanout_time,
    send_time,
    tier_holds,
)
from notifier.domain.incident_counts import (
    NO_CHANNEL,
    STATES,
    Counts,
    StateGroup,
    counts_of,
    is_settled,
    progress,
)
from notifier.domain.incidents import Incident, Segment, Severity, Step
from notifier.domain.models import (
    ChannelName,
    Customer,
    CustomerId,
    IncidentStatus,
    Promise,
    PromiseId,
    PromiseStatus,
)
from notifier.domain.preflight import FORGOTTEN, NO_TEMPLATE, Reach, Tally, channel_loads, reach
from notifier.domain.quiet_hours import QuietAction, QuietHours
from notifier.incident_views import span

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 12:00 in Buenos Aires
ALL: frozenset[ChannelName] = frozenset({"sms", "whatsapp", "email", "x"})


@pytest.mark.parametrize(
    ("cost", "rate", "expected"),
    [
        pytest.param(0, ChannelRate(10), timedelta(0), id="nothing"),
        pytest.param(100, ChannelRate(10), timedelta(seconds=10), id="sms-segments"),
        pytest.param(1, ChannelRate(80), timedelta(seconds=1 / 80), id="one-whatsapp"),
        pytest.param(1440, ChannelRate(1, 1440), timedelta(seconds=1440), id="x-whole-quota"),
        pytest.param(1441, ChannelRate(1, 1440), timedelta(days=1, seconds=1), id="x-one-over"),
        pytest.param(3000, ChannelRate(1, 1440), timedelta(days=2, seconds=120), id="x-3000"),
        pytest.param(2880, ChannelRate(1, 1440), timedelta(days=1, seconds=1440), id="x-2-quotas"),
        pytest.param(100_000, ChannelRate(14), timedelta(seconds=100_000 / 14), id="email-100k"),
    ],
)
def test_send_time_at_the_rate_and_past_a_daily_quota(
    cost: int, rate: ChannelRate, expected: timedelta
) -> None:
    assert send_time(cost, rate) == expected


def test_the_fanout_takes_its_slowest_channel_channels_run_in_parallel() -> None:
    loads = [
        ChannelLoad("sms", 1000, 2000, ChannelRate(10)),  # 200 s: 2 segments each
        ChannelLoad("whatsapp", 8000, 8000, ChannelRate(80)),  # 100 s
        ChannelLoad("email", 0, 0, ChannelRate(14)),
    ]
    assert fanout_time(loads) == timedelta(seconds=200)
    assert fanout_time([]) == timedelta(0)


@pytest.mark.parametrize(
    ("customers", "expected"),
    [
        pytest.param(0, [(0, 0), (0, 0), (0, 0)], id="none"),
        pytest.param(999, [(0, 1), (0, 1), (0, 1)], id="under-every-tier"),
        pytest.param(1000, [(0, 1), (0, 1), (0, 1)], id="exactly-the-first"),
        pytest.param(2500, [(1500, 3), (0, 1), (0, 1)], id="two-and-a-half-days-on-1k"),
        pytest.param(150_000, [(149_000, 150), (140_000, 15), (50_000, 2)], id="150k"),
    ],
)
def test_tier_holdbacks_wait_for_the_next_day(
    customers: int, expected: list[tuple[int, int]]
) -> None:
    holds = tier_holds(customers)
    assert [h.tier for h in holds] == [1_000, 10_000, 100_000]
    assert [(h.held_back, h.days) for h in holds] == expected
    assert all(h.customers == customers for h in holds)
    assert tier_holds(5, (2,)) == [TierHold(2, 5, 3, 3)]


def _customer(cid: str = "c-1", **kw: object) -> Customer:
    values: dict[str, object] = {
        "locale": "es-AR", "timezone": "America/Argentina/Buenos_Aires",
        "phone": "+5491155550101", "email": f"{cid}@example.com",
    }  # fmt: skip
    values.update(kw)
    return Customer(CustomerId(cid), **values)  # type: ignore[arg-type]


WA_OLD = NOW - timedelta(days=2)


@pytest.mark.parametrize(
    ("customer", "session_open", "has_template", "expected"),
    [
        pytest.param(_customer(last_used_channel="sms"), False, False, Reach("sms"), id="sms"),
        pytest.param(_customer(last_used_channel="email"), False, False, Reach("email"),
                     id="email"),
        pytest.param(_customer(last_used_channel="whatsapp"), True, False, Reach("whatsapp"),
                     id="whatsapp-in-window"),
        pytest.param(_customer(last_used_channel="whatsapp"), False, True,
                     Reach("whatsapp", outside_window=True), id="whatsapp-template"),
        pytest.param(_customer(last_used_channel="whatsapp"), False, False,
                     Reach("sms", outside_window=True, fell_back=True), id="whatsapp-falls-back"),
        pytest.param(_customer(last_used_channel="whatsapp", phone=None, email=None,
                               whatsapp="+5491155550101", opted_out=frozenset({"sms"})),
                     False, False,
                     Reach(None, NO_TEMPLATE, outside_window=True, fell_back=True),
                     id="whatsapp-nowhere-else"),
        pytest.param(_customer(opted_out=frozenset({"sms", "whatsapp", "email"})), False, False,
                     Reach(None, "opted out"), id="opted-out"),
        pytest.param(_customer(phone=None, email=None), False, False, Reach(None, "no address"),
                     id="no-address"),
        pytest.param(_customer(forgotten=True), False, False, Reach(None, FORGOTTEN),
                     id="forgotten"),
    ],
)  # fmt: skip
def test_reach_routes_the_opening_as_the_dispatcher_would(
    customer: Customer, session_open: bool, has_template: bool, expected: Reach
) -> None:
    got = reach(customer, ALL, NOW, None, session_open=session_open, has_template=has_template)
    assert got == expected


def test_an_unconfigured_channel_that_would_reach_them_is_the_cause() -> None:
    customer = _customer(email=None, opted_out=frozenset({"sms"}))  # WhatsApp by phone is left
    got = reach(customer, frozenset({"sms", "email"}), NOW, None, session_open=False,
                has_template=False)  # fmt: skip
    assert got == Reach(None, "channel unavailable")


def test_quiet_hours_defer_the_opening_on_its_channel() -> None:
    quiet = QuietHours(time(21), time(8), QuietAction.DEFER)
    night = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 02:00 in Buenos Aires
    got = reach(_customer(last_used_channel="email"), ALL, night, quiet, session_open=False,
                has_template=False)  # fmt: skip
    assert got == Reach("email", deferred=True)


def _promise(pid: int, cid: str) -> Promise:
    return Promise(PromiseId(pid), CustomerId(cid), "delivery", PromiseStatus.OPEN, NOW,
                   f"A-{pid}", NOW, NOW, NOW)  # fmt: skip


def test_the_tally_routes_each_customer_once_and_counts_every_promise() -> None:
    routed: list[str] = []
    channels = {"c-1": Reach("sms"), "c-2": Reach("email"), "c-3": Reach(None, "opted out"),
                "c-4": Reach("sms", outside_window=True, fell_back=True)}  # fmt: skip

    def reach_of(c: Customer) -> Reach:
        routed.append(c.id)
        return channels[c.id]

    tally = Tally()
    people = {cid: _customer(cid, locale="en" if cid == "c-2" else "es-AR") for cid in channels}
    for pid, cid in enumerate(["c-1", "c-2", "c-1", "c-3", "c-4", "c-1", "c-3"]):
        tally.add(_promise(pid, cid), people[cid], reach_of)
    assert sorted(routed) == ["c-1", "c-2", "c-3", "c-4"]  # once each
    assert (tally.affected.customers, tally.affected.promises) == (4, 7)
    assert tally.by_channel["sms"].to_json() == {"customers": 2, "promises": 4}
    assert tally.by_channel["email"].to_json() == {"customers": 1, "promises": 1}
    assert tally.by_channel["whatsapp"].customers == 0
    assert tally.by_locale["es-AR"].to_json() == {"customers": 3, "promises": 6}
    assert tally.skipped["opted out"].to_json() == {"customers": 1, "promises": 2}
    assert tally.skipped_total.to_json() == {"customers": 1, "promises": 2}
    assert (tally.outside_window, tally.fell_back, tally.templated) == (1, 1, 0)
    sample = tally.samples[("sms", "es-AR")]
    assert sample.customer.id == "c-1" and [p.id for p in sample.promises] == [0, 2, 5]
    rates = {c: ChannelRate(10) for c in ("sms", "whatsapp", "email", "x")}
    loads = {x.channel: x for x in channel_loads(tally, {"es-AR": 2}, rates)}  # type: ignore[misc]
    assert (loads["sms"].messages, loads["sms"].cost) == (2, 4)  # 2 segments each
    assert (loads["email"].messages, loads["email"].cost) == (1, 1)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.02, "under 0.1 s"),
        (0.4, "0.4 s"),
        (12.4, "12 s"),
        (125, "2 min 5 s"),
        (3600, "1 h"),
        (90061, "1 d 1 h"),
    ],
)
def test_durations_read_for_people(seconds: float, text: str) -> None:
    assert span(seconds) == text


def _incident(**kw: object) -> Incident:
    step = Step(0, "opened", IncidentStatus.INVESTIGATING, {}, None, NOW)
    values: dict[str, object] = {
        "id": 1, "titles": {"es": "Paro"}, "severity": Severity.MAJOR, "segment": Segment({}, ()),
        "status": IncidentStatus.INVESTIGATING, "opened_at": NOW, "opened_by": "ana",
        "steps": (step,), "changed_at": NOW,
    }  # fmt: skip
    values.update(kw)
    return Incident(**values)  # type: ignore[arg-type]


def _counts(affected: int, **states: int) -> Counts:
    base = dict.fromkeys(("told", "pending", "deferred", "held", "failed", "skipped",
                          "cancelled"), 0)  # fmt: skip
    base.update(states)
    return Counts(affected, base)


LATER = NOW + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("incident", "counts", "settled"),
    [
        pytest.param(_incident(plan_at=NOW), _counts(0), False, id="not-planned-yet"),
        pytest.param(_incident(plan_at=NOW + timedelta(hours=1),
                               changed_at=NOW + timedelta(hours=1)), _counts(0), False,
                     id="confirmed-an-hour-after-it-opened"),
        pytest.param(_incident(plan_at=LATER), _counts(3, told=2, pending=1), False, id="sending"),
        pytest.param(_incident(plan_at=LATER), _counts(3, told=2, deferred=1), False,
                     id="quiet-hours"),
        pytest.param(_incident(plan_at=LATER, paused=True), _counts(3, told=1, held=2), False,
                     id="paused"),
        pytest.param(_incident(plan_at=LATER), _counts(4, told=2, failed=1, cancelled=1), True,
                     id="done"),
        pytest.param(_incident(plan_at=None, awaiting_confirmation=True), _counts(0), False,
                     id="unconfirmed"),
        pytest.param(_incident(plan_at=None), _counts(0), True, id="resolved-planned"),
    ],
)  # fmt: skip
def test_a_fanout_is_settled_once_no_planner_look_is_due_and_nobody_waits(
    incident: Incident, counts: Counts, settled: bool
) -> None:
    assert is_settled(incident, counts) is settled


def test_progress_leaves_out_those_with_nothing_to_say() -> None:
    assert progress(_counts(10, told=6, failed=1, skipped=1, cancelled=2)) == (8, 8)
    assert progress(_counts(10, told=3, pending=7)) == (3, 10)


def test_counts_add_the_groups_by_channel_and_the_unplanned_are_pending() -> None:
    groups = [
        StateGroup("told", "sms", 4, 3),
        StateGroup("told", "email", 1, 1),
        StateGroup("skipped", NO_CHANNEL, 2, 0),
        StateGroup("deferred", "sms", 1, 0),
    ]
    c = counts_of(10, groups)
    assert c.states == {"told": 5, "pending": 2, "deferred": 1, "held": 0, "failed": 0,
                        "skipped": 2, "cancelled": 0}  # fmt: skip
    assert c.resolved == 4
    assert list(c.by_channel) == ["-", "email", "sms"]
    assert c.by_channel["sms"] == {**dict.fromkeys(STATES, 0), "told": 4, "deferred": 1}
    assert counts_of(3, []).states["pending"] == 3  # nobody planned yet
