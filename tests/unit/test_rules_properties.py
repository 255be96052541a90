"""Invariants of due_notices and next_check_at over random rules, promises and clocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.domain.models import Customer, Promise, PromiseStatus
from notifier.domain.notices import Notice, SentLedger
from notifier.domain.quiet_hours import QuietAction, is_quiet
from notifier.domain.rules import RuleSet, due_notices, next_check_at
from notifier.domain.rules.match import matches
from notifier.domain.rules.model import ESCALATION_STEP
from tests.rules_fixtures import customer, promise, ruleset

ZONES = (
    "America/Argentina/Buenos_Aires", "America/Santiago", "America/Mexico_City",
    "America/Bogota", "America/Lima", "America/Sao_Paulo", "Europe/Madrid",
    "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
)  # fmt: skip
COUNTRIES = ("AR", "MX", "CO", "CL", "PE", "BR", "ES", "US")


def _transitions() -> list[datetime]:
    found = []
    for name in ZONES:
        tz = ZoneInfo(name)
        at = datetime(2026, 1, 1, tzinfo=UTC)
        while at.year == 2026:
            nxt = at + timedelta(hours=1)
            if at.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
                found.append(nxt)
            at = nxt
    return found


TRANSITIONS = _transitions()
durations = st.sampled_from(["15m", "1h", "2h", "4h", "1d", "90s", "1d4h"])
offsets = st.one_of(
    durations, st.sampled_from(["1 business_day", "2 business_days", "3 business_hours"])
)
clock = st.times().map(lambda t: f"{t.hour:02d}:{t.minute:02d}")


@st.composite
def rule_text(draw: st.DrawFn, index: int) -> str:
    trigger = draw(st.sampled_from(["before_due", "overdue", "on"]))
    event = draw(st.sampled_from(["kept", "broken", "rescheduled", "cancelled"]))
    when = f"{{on: {event}" if trigger == "on" else f"{{{trigger}: {draw(offsets)}"
    if draw(st.booleans()):
        when += f", for: {draw(durations)}"
    lines = [f"  - id: rule-{index}", f"    when: {when}}}", "    notify:", "      message: m"]
    if trigger != "on" or event == "broken":
        if draw(st.booleans()):
            lines.append(
                f"      repeat: {{every: {draw(durations)}, max: {draw(st.integers(1, 4))}}}"
            )
        if draw(st.booleans()):
            lines.append(f"    escalate: {{after: {draw(st.integers(1, 4))}, broken: 2}}")
    quiet = draw(st.sampled_from(["none", "off", "window"]))
    if quiet == "off":
        lines.insert(4, "      quiet_hours: false")
    elif quiet == "window":
        action = draw(st.sampled_from(["defer", "drop", "send"]))
        start, end = draw(clock), draw(clock)
        lines.insert(4, f'      quiet_hours: {{start: "{start}", end: "{end}", action: {action}}}')
    if draw(st.booleans()):
        lines.append(f"    calendar: {{country: {draw(st.sampled_from(COUNTRIES))}}}")
    return "\n".join(lines)


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    count = draw(st.integers(1, 4))
    return ruleset("rules:\n" + "\n".join(draw(rule_text(i)) for i in range(count)))


instants = st.one_of(
    st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)),
    st.builds(
        lambda t, h: t + timedelta(minutes=h),
        st.sampled_from(TRANSITIONS),
        st.integers(-48 * 60, 48 * 60),
    ),
)


@st.composite
def promises(draw: st.DrawFn) -> Promise:
    due = draw(instants)
    window = draw(st.one_of(st.none(), st.integers(1, 8).map(lambda h: due - timedelta(hours=h))))
    return promise(
        due_at=due,
        window_start=window,
        status=draw(st.sampled_from(list(PromiseStatus))),
        changed_at=due + timedelta(minutes=draw(st.integers(-3000, 3000))),
        version=draw(st.integers(1, 3)),
        times_broken=draw(st.integers(0, 3)),
    )


customers = st.sampled_from(ZONES).map(lambda z: customer(timezone=z))
COMMON = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(p: Promise, c: Customer, rules: RuleSet, now: datetime) -> list[tuple[datetime, Notice]]:
    """Act like the daemon: evaluate at every next_check_at, record what it scheduled."""
    sent = SentLedger()
    out: list[tuple[datetime, Notice]] = []
    at: datetime | None = now
    for _ in range(60):
        if at is None:
            break
        found = due_notices(p, c, rules, sent, at)
        out.extend((at, n) for n in found)
        sent = sent.with_keys([n.dedupe_key for n in found])
        nxt = next_check_at(p, c, rules, sent, at)
        assert nxt is None or nxt >= at
        if nxt == at:
            # "due now" must mean something is due now (an escalation the record unlocked).
            assert due_notices(p, c, rules, sent, at), (at, sent)
        at = nxt
    return out


@COMMON
@given(rules=rule_sets(), p=promises(), c=customers, now=instants, probe=st.floats(0, 1))
def test_nothing_is_due_before_next_check_at(
    rules: RuleSet, p: Promise, c: Customer, now: datetime, probe: float
) -> None:
    sent = SentLedger()
    nxt = next_check_at(p, c, rules, sent, now)
    assert nxt is None or nxt >= now
    end = nxt or now + timedelta(days=60)
    between = now + (end - now) * probe
    if between < end:
        assert due_notices(p, c, rules, sent, between) == []


@COMMON
@given(rules=rule_sets(), p=promises(), c=customers, now=instants)
def test_evaluating_twice_adds_nothing(
    rules: RuleSet, p: Promise, c: Customer, now: datetime
) -> None:
    first = due_notices(p, c, rules, SentLedger(), now)
    sent = SentLedger(frozenset(n.dedupe_key for n in first))
    assert due_notices(p, c, rules, sent, now) == []
    assert len(sent.keys) == len(first)


@COMMON
@given(rules=rule_sets(), p=promises(), c=customers, now=instants)
def test_a_run_respects_repeat_max_and_quiet_hours(
    rules: RuleSet, p: Promise, c: Customer, now: datetime
) -> None:
    sent = run(p, c, rules, now - timedelta(days=3))
    keys = [n.dedupe_key for _, n in sent]
    assert len(keys) == len(set(keys))
    tz = ZoneInfo(c.timezone)
    for _, notice in sent:
        rule = rules.by_id(notice.rule_id)
        assert rule is not None
        repeat = rule.notify.repeat
        assert notice.step == ESCALATION_STEP or notice.step <= (repeat.max if repeat else 0)
        quiet = notice.quiet_hours
        if quiet is not None and quiet.action is not QuietAction.SEND:
            assert not is_quiet(notice.not_before, quiet, tz), notice


@COMMON
@given(rules=rule_sets(), p=promises(), c=customers, now=instants, seed=st.randoms())
def test_renaming_or_reordering_rules_changes_no_key(
    rules: RuleSet, p: Promise, c: Customer, now: datetime, seed: object
) -> None:
    shuffled = list(rules.rules)
    seed.shuffle(shuffled)  # type: ignore[attr-defined]
    renamed = RuleSet(
        tuple(replace(r, description=f"new {r.id}") for r in shuffled), rules.defaults
    )
    before = {n.dedupe_key for n in due_notices(p, c, rules, SentLedger(), now)}
    after = {n.dedupe_key for n in due_notices(p, c, renamed, SentLedger(), now)}
    assert before == after


@settings(max_examples=200, deadline=None)
@given(
    start=clock, end=clock, zone=st.sampled_from(ZONES), at=instants,
    action=st.sampled_from([QuietAction.DEFER, QuietAction.DROP]),
)  # fmt: skip
def test_quiet_until_ends_outside_the_window(
    start: str, end: str, zone: str, at: datetime, action: QuietAction
) -> None:
    from notifier.domain.quiet_hours import QuietHours, quiet_until

    quiet = QuietHours(time.fromisoformat(start), time.fromisoformat(end), action)
    tz = ZoneInfo(zone)
    until = quiet_until(at, quiet, tz)
    if until is None:
        return
    assert until > at
    assert not is_quiet(until, quiet, tz)


KINDS = ("delivery", "refund", "callback", "1")
kind_matches = st.sampled_from(
    ["", "kind: delivery", "kind: [refund, callback]", "kind: {ne: refund}",
     "kind: {in: [delivery, \"1\"]}", "kind: {regex: '^re'}", "kind: {exists: true}"]
)  # fmt: skip


@given(st.lists(kind_matches, min_size=1, max_size=5), st.sampled_from(KINDS))
@COMMON
def test_for_kind_keeps_every_rule_that_matches_the_kind(clauses: list[str], kind: str) -> None:
    rules = ruleset(
        "rules:\n"
        + "\n".join(
            f"  - id: r{i}\n"
            + (f"    match: {{{clause}}}\n" if clause else "")
            + "    when: {overdue: 1h}\n    notify: {message: m}"
            for i, clause in enumerate(clauses)
        )
    )
    p, c = promise(kind=kind), customer()
    assert [r for r in rules.rules if matches(r, p, c)] == [
        r for r in rules.for_kind(kind) if matches(r, p, c)
    ]
    assert rules.for_kind(kind) == rules.for_kind(kind)  # asked again: from the cache
