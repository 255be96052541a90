"""The ledger's bounds: the time window, amounts Babel can format, storable JSON values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from babel.numbers import format_currency, list_currencies
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.limits import (
    EARLIEST,
    LATEST,
    MAX_AMOUNT,
    check_amount,
    check_instant,
    is_within_window,
    unsafe_value,
)

LOCALES = ["es_AR", "es", "en", "pt_BR", "ar_EG", "hi_IN", "fa", "ja", "my"]


@pytest.mark.parametrize(
    ("value", "inside"),
    [
        pytest.param(EARLIEST, True, id="earliest"),
        pytest.param(LATEST - timedelta(microseconds=1), True, id="just-before-latest"),
        pytest.param(LATEST, False, id="latest-excluded"),
        pytest.param(EARLIEST - timedelta(microseconds=1), False, id="before-1970"),
        pytest.param(datetime(9999, 12, 31, 23, tzinfo=timezone(-timedelta(hours=3))), False,
                     id="overflows-in-utc"),
        pytest.param(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), False,
                     id="year-1-overflows"),
        pytest.param(datetime(1969, 12, 31, 22, tzinfo=timezone(-timedelta(hours=3))), True,
                     id="1970-in-utc"),
    ],
)  # fmt: skip
def test_the_window_is_judged_in_utc(value: datetime, inside: bool) -> None:
    assert is_within_window(value) is inside
    if inside:
        assert check_instant(value) == value and check_instant(value).tzinfo == UTC
    else:
        with pytest.raises(ValueError, match="outside"):
            check_instant(value)


@pytest.mark.parametrize(
    "value",
    [0, 1, -1, 15999.9, "120", " 120.50 ", "999999999999999.9999", -999_999_999_999_999, "1E+3"],
)
def test_amounts_babel_formats_are_accepted(value: object) -> None:
    assert check_amount(value) == Decimal(str(value).strip())


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param(1e27, "too large", id="1e27"),
        pytest.param(10**15, "too large", id="limit"),
        pytest.param("-1000000000000000", "too large", id="negative-limit"),
        pytest.param(float("nan"), "finite", id="nan"),
        pytest.param("Infinity", "finite", id="infinity-string"),
        pytest.param("12,50", "not a number", id="comma"),
        pytest.param("", "not a number", id="empty"),
        pytest.param(0.00001, "decimals", id="five-decimals"),
        pytest.param(True, "must be a number", id="boolean"),
        pytest.param(None, "must be a number", id="null"),
        pytest.param([1], "must be a number", id="list"),
    ],
)
def test_amounts_babel_cannot_format_are_refused(value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        check_amount(value)


@given(
    st.decimals(
        min_value=-MAX_AMOUNT + Decimal("0.0001"), max_value=MAX_AMOUNT - Decimal("0.0001"),
        places=4, allow_nan=False, allow_infinity=False,
    ),
    st.sampled_from(sorted(list_currencies())),
    st.sampled_from(LOCALES),
)  # fmt: skip
def test_every_accepted_amount_formats_in_every_currency(
    amount: Decimal, currency: str, locale: str
) -> None:
    # What the money filter does with an attribute: format_currency(Decimal(str(amount))).
    accepted = check_amount(str(amount))
    assert format_currency(accepted, currency, locale=locale)


def test_babel_fails_just_past_the_bound_that_is_why_it_is_there() -> None:
    assert format_currency(Decimal("999999999999999.9999"), "KWD", locale="es_AR")
    with pytest.raises(ArithmeticError):
        format_currency(Decimal("1e27"), "USD", locale="en")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_characters="\x00")),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(alphabet=st.characters(blacklist_characters="\x00")), inner,
                      max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(_JSON)
def test_json_without_nul_or_nan_is_storable(value: object) -> None:
    assert unsafe_value(value) is None


@given(_JSON, st.sampled_from(["\x00", float("nan"), float("inf"), float("-inf")]))
def test_a_nul_or_nan_anywhere_is_found(value: object, poison: object) -> None:
    assert unsafe_value({"k": [value, {"deep": poison}]}) is not None
    assert unsafe_value([poison]) is not None


@pytest.mark.parametrize(
    ("value", "told"),
    [
        pytest.param("a\x00", "contains a NUL character (U+0000)", id="string"),
        pytest.param({"a": {"b": [1, "x\x00"]}}, "a.b.1: contains a NUL", id="nested-value"),
        pytest.param({"a": {"b\x00c": 1}}, "a.b\\0c: the key contains a NUL", id="nested-key"),
        pytest.param({"w": float("nan")}, "w: nan is not a number JSON allows", id="nan"),
        pytest.param([1.5, float("-inf")], "1: -inf is not", id="infinity"),
    ],
)
def test_the_answer_names_the_path(value: object, told: str) -> None:
    found = unsafe_value(value)
    assert found is not None and found.startswith(told), found
