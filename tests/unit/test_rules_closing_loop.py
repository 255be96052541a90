"""Closing the loop with the shipped rules: thanks only after an apology or a warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.models import PromiseStatus
from notifier.domain.notices import SentLedger
from notifier.domain.rules import due_notices, next_check_at
from tests.rules_fixtures import DUE, customer, promise, ruleset, shipped_rules

M = timedelta(minutes=1)


def kept_keys(
    sent: tuple[str, ...], changed: datetime, now: datetime, version: int = 1
) -> list[str]:
    p = promise(status=PromiseStatus.KEPT, changed_at=changed, version=version)
    found = due_notices(p, customer(), shipped_rules(), SentLedger(frozenset(sent)), now)
    return [n.dedupe_key for n in found]


# DUE is Tuesday 12:00 in Buenos Aires; kept an hour and a half later, in the afternoon.
KEPT = DUE + timedelta(hours=2)


@pytest.mark.parametrize(
    ("sent", "version", "expected"),
    [
        pytest.param((), 1, [], id="kept-on-time-gets-nothing"),
        pytest.param(("delivery-late:7:1:0",), 1, ["promise-kept:7:1:0"], id="after-the-apology"),
        pytest.param(("delivery-late:7:1:0", "delivery-late:7:1:1"), 1, ["promise-kept:7:1:0"],
                     id="after-a-repeat"),
        pytest.param(("delivery-at-risk:7:1:0",), 1, ["promise-kept:7:1:0"],
                     id="after-the-warning"),
        pytest.param(("delivery-late:7:1:0",), 2, ["promise-kept:7:2:0"],
                     id="apology-about-an-earlier-deadline"),
        pytest.param(("delivery-late:7:1:1000",), 1, [], id="only-ops-heard"),
        pytest.param(("delivery-late:8:1:0",), 1, [], id="another-promise-was-late"),
        pytest.param(("gone-rule:7:1:0",), 1, [], id="a-rule-no-longer-loaded"),
    ],
)  # fmt: skip
def test_thanks_only_for_a_promise_we_told_about(
    sent: tuple[str, ...], version: int, expected: list[str]
) -> None:
    assert kept_keys(sent, KEPT, KEPT + 5 * M, version) == expected


def test_an_apology_cancelled_as_moot_told_nobody() -> None:
    p = promise(status=PromiseStatus.KEPT, changed_at=KEPT)
    late = "delivery-late:7:1:0"
    waited = SentLedger(frozenset({late}), went_out=frozenset())  # kept before it went out
    assert due_notices(p, customer(), shipped_rules(), waited, KEPT + 5 * M) == []
    went = SentLedger(frozenset({late}), went_out=frozenset({late}))
    assert [n.rule_id for n in due_notices(p, customer(), shipped_rules(), went, KEPT + 5 * M)] == [
        "promise-kept"
    ]


def test_a_kept_promise_at_night_waits_until_morning() -> None:
    night = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)  # 23:00 in Buenos Aires
    morning = datetime(2026, 3, 11, 11, 0, tzinfo=UTC)  # 08:00, the global window's end
    sent = ("delivery-late:7:1:0",)
    assert kept_keys(sent, night, night + 5 * M) == []
    p = promise(status=PromiseStatus.KEPT, changed_at=night)
    ledger = SentLedger(frozenset(sent))
    assert next_check_at(p, customer(), shipped_rules(), ledger, night + 5 * M) == morning
    assert kept_keys(sent, night, morning - M) == []
    assert kept_keys(sent, night, morning) == ["promise-kept:7:1:0"]


def test_told_names_stages_of_any_rule() -> None:
    rules = ruleset("""
rules:
  - id: reminder
    when: {on: rescheduled}
    notify: {message: m}
  - id: thanks
    when: {on: kept, told: [rescheduled]}
    notify: {message: thanks}
""")
    p = promise(status=PromiseStatus.KEPT, changed_at=KEPT, version=2)
    told = SentLedger(frozenset({"reminder:7:2:0"}))
    assert [n.rule_id for n in due_notices(p, customer(), rules, told, KEPT)] == ["thanks"]
    assert due_notices(p, customer(), rules, SentLedger(), KEPT) == []


# Wednesday 17:00 in Buenos Aires, the eve of Argentina's Independence Day (Thursday) and
# its bridge holiday (Friday); in Brazil both are working days.
REFUND_DUE = datetime(2026, 7, 8, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("who", "late_at"),
    [
        pytest.param({"country": "AR"}, datetime(2026, 7, 13, 20, 0, tzinfo=UTC), id="stated-AR"),
        pytest.param({"phone": "+5491155551234"}, datetime(2026, 7, 13, 20, 0, tzinfo=UTC),
                     id="AR-from-the-phone"),
        pytest.param({"phone": "+5511987654321"}, datetime(2026, 7, 9, 20, 0, tzinfo=UTC),
                     id="BR-from-the-phone"),
        pytest.param({"country": "BR", "phone": "+5491155551234"},
                     datetime(2026, 7, 9, 20, 0, tzinfo=UTC), id="stated-wins-over-phone"),
        pytest.param({}, datetime(2026, 7, 9, 20, 0, tzinfo=UTC), id="unknown-weekends-only"),
        pytest.param({"country": "AQ"}, datetime(2026, 7, 9, 20, 0, tzinfo=UTC),
                     id="no-holidays-calendar"),
    ],
)  # fmt: skip
def test_refunds_count_the_customers_own_holidays(who: dict[str, str], late_at: datetime) -> None:
    p = promise(kind="refund", due_at=REFUND_DUE, attributes={"amount": 120})
    c = customer(**who)
    rules = shipped_rules()
    assert next_check_at(p, c, rules, SentLedger(), REFUND_DUE + M) == late_at
    [notice] = due_notices(p, c, rules, SentLedger(), late_at)
    assert (notice.rule_id, notice.channel, notice.fallback) == (
        "refund-late", "last_used", ("email", "sms"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        ("+5491155551234", "AR"),
        ("+5511987654321", "BR"),
        ("+525512345678", "MX"),
        ("+14165550123", "CA"),  # +1 is shared: the area code tells
        ("+12125550123", "US"),
        ("whatsapp:+56912345678", "CL"),
        ("+80012345678", None),  # international freephone: no country
        ("not a number", None),
    ],
)
def test_the_country_is_read_off_the_phone_number(phone: str, country: str | None) -> None:
    assert customer(phone=phone).home_country == country
    assert customer(whatsapp=phone).home_country == country
