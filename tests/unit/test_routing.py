"""Routing: the channel to use now, the instant to wait for, or why nothing can go."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.models import CHANNELS, ChannelName, Customer, CustomerId
from notifier.domain.quiet_hours import QuietAction, QuietHours
from notifier.domain.routing import (
    ChannelChoice,
    Send,
    Skip,
    SkipReason,
    Suppress,
    Via,
    Wait,
    route,
)

ALL: frozenset[ChannelName] = frozenset(CHANNELS)
NOON_BA = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in Buenos Aires
NIGHT_BA = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)  # 23:00 in Buenos Aires
MORNING_BA = datetime(2026, 3, 11, 11, 0, tzinfo=UTC)  # 08:00 next morning in Buenos Aires
QUIET = QuietHours(time(21), time(8))


def customer(**changes: object) -> Customer:
    base: dict[str, object] = {
        "id": CustomerId("c-1"),
        "locale": "es-AR",
        "timezone": "America/Argentina/Buenos_Aires",
        "phone": "+5491155551234",
        "email": "ana@example.com",
        "x_user_id": "12345",
    }
    base.update(changes)
    return Customer(**base)  # type: ignore[arg-type]  # the table passes the right types


CASES = [
    pytest.param(
        customer(last_used_channel="email"), "last_used", ("sms",), ALL, frozenset(),
        Send("email", "ana@example.com", Via.LAST_USED), id="last-used",
    ),
    pytest.param(
        customer(last_used_channel="email", preferred_channel="x"), "last_used", ("sms",),
        ALL, frozenset(), Send("x", "12345", Via.PREFERRED), id="preferred-wins-over-last-used",
    ),
    pytest.param(
        customer(), "last_used", ("sms", "email"), ALL, frozenset(),
        Send("sms", "+5491155551234", Via.FALLBACK), id="no-last-used-goes-to-fallback",
    ),
    pytest.param(
        customer(preferred_channel="x"), "email", ("sms",), ALL, frozenset(),
        Send("email", "ana@example.com", Via.RULE), id="fixed-channel-ignores-preference",
    ),
    pytest.param(
        customer(last_used_channel="sms", opted_out=frozenset({"sms"})), "last_used",
        ("sms", "email"), ALL, frozenset(),
        Send("email", "ana@example.com", Via.FALLBACK, (Skip("sms", SkipReason.OPTED_OUT),)),
        id="opted-out-falls-back-once",
    ),
    pytest.param(
        customer(whatsapp=None, phone=None), "whatsapp", ("email",), ALL, frozenset(),
        Send("email", "ana@example.com", Via.FALLBACK,
             (Skip("whatsapp", SkipReason.NO_ADDRESS),)),
        id="no-address",
    ),
    pytest.param(
        customer(undeliverable={"email": "ana@example.com"}), "email", ("x",), ALL, frozenset(),
        Send("x", "12345", Via.FALLBACK, (Skip("email", SkipReason.UNDELIVERABLE),)),
        id="undeliverable-address",
    ),
    pytest.param(
        customer(email="new@example.com", undeliverable={"email": "ana@example.com"}), "email",
        ("x",), ALL, frozenset(), Send("email", "new@example.com", Via.RULE),
        id="changed-address-is-deliverable-again",
    ),
    pytest.param(
        customer(), "sms", ("email",), frozenset({"email"}), frozenset(),
        Send("email", "ana@example.com", Via.FALLBACK, (Skip("sms", SkipReason.UNAVAILABLE),)),
        id="channel-unavailable",
    ),
    pytest.param(
        customer(), "sms", ("email",), ALL, frozenset({"sms"}),
        Send("email", "ana@example.com", Via.FALLBACK, (Skip("sms", SkipReason.FAILED),)),
        id="failed-permanently-earlier",
    ),
    pytest.param(
        customer(opted_out=frozenset({"sms", "email"})), "sms", ("email",), ALL, frozenset(),
        Suppress(
            "no channel left: sms opted out; email opted out",
            (Skip("sms", SkipReason.OPTED_OUT), Skip("email", SkipReason.OPTED_OUT)),
        ),
        id="nothing-left",
    ),
    pytest.param(
        customer(), "last_used", (), ALL, frozenset(),
        Suppress("no channel to try: the rule names none and there is no fallback"),
        id="last-used-unknown-and-no-fallback",
    ),
    pytest.param(
        customer(forgotten=True), "sms", ("email",), ALL, frozenset(),
        Suppress("customer forgotten"), id="forgotten-customer",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("who", "choice", "fallback", "available", "failed", "expected"), CASES)
def test_route(
    who: Customer,
    choice: ChannelChoice,
    fallback: tuple[ChannelName, ...],
    available: frozenset[ChannelName],
    failed: frozenset[ChannelName],
    expected: object,
) -> None:
    assert route(who, choice, fallback, available, failed, NOON_BA) == expected


QUIET_CASES = [
    pytest.param(NOON_BA, QUIET, Send("sms", "+5491155551234", Via.RULE), id="outside-window"),
    pytest.param(NIGHT_BA, QUIET, Wait(MORNING_BA, "quiet hours", "sms"), id="defer-to-morning"),
    pytest.param(
        NIGHT_BA, QuietHours(time(21), time(8), QuietAction.DROP),
        Suppress("quiet hours (the rule drops messages then)"), id="drop",
    ),
    pytest.param(
        NIGHT_BA, QuietHours(time(21), time(8), QuietAction.SEND),
        Send("sms", "+5491155551234", Via.RULE), id="crisis-goes-through",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("now", "quiet", "expected"), QUIET_CASES)
def test_quiet_hours_in_the_customers_timezone(
    now: datetime, quiet: QuietHours, expected: object
) -> None:
    assert route(customer(), "sms", (), ALL, frozenset(), now, quiet) == expected


def test_explicit_timezone_overrides_the_customers() -> None:
    # 23:00 in Buenos Aires is 11:00 in Tokyo: not quiet there.
    decision = route(
        customer(), "sms", (), ALL, frozenset(), NIGHT_BA, QUIET, ZoneInfo("Asia/Tokyo")
    )
    assert isinstance(decision, Send)


def test_nothing_deliverable_suppresses_even_in_quiet_hours() -> None:
    decision = route(customer(phone=None), "sms", (), ALL, frozenset(), NIGHT_BA, QUIET)
    assert decision == Suppress(
        "no channel left: sms no address", (Skip("sms", SkipReason.NO_ADDRESS),)
    )


channel_sets = st.frozensets(st.sampled_from(CHANNELS))


@given(
    opted_out=channel_sets,
    available=channel_sets,
    failed=channel_sets,
    last_used=st.none() | st.sampled_from(CHANNELS),
    preferred=st.none() | st.sampled_from(CHANNELS),
    choice=st.sampled_from([*CHANNELS, "last_used"]),
    fallback=st.lists(st.sampled_from(CHANNELS), max_size=6),
    no_email=st.booleans(),
)
def test_a_send_never_uses_a_channel_it_must_skip(
    opted_out: frozenset[ChannelName],
    available: frozenset[ChannelName],
    failed: frozenset[ChannelName],
    last_used: ChannelName | None,
    preferred: ChannelName | None,
    choice: ChannelChoice,
    fallback: list[ChannelName],
    no_email: bool,
) -> None:
    who = customer(
        opted_out=opted_out,
        last_used_channel=last_used,
        preferred_channel=preferred,
        email=None if no_email else "ana@example.com",
    )
    decision = route(who, choice, fallback, available, failed, NOON_BA)
    skipped = decision.skipped
    assert len({s.channel for s in skipped}) == len(skipped)  # each channel judged once
    if isinstance(decision, Send):
        assert decision.channel in available
        assert decision.channel not in failed | opted_out
        assert decision.address == who.address(decision.channel)
        assert decision.channel not in {s.channel for s in skipped}
    else:
        assert isinstance(decision, Suppress)
