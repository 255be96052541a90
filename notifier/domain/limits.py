"""The bounds a value must keep to enter the ledger, and the checks that enforce them.

The API, the import and the CLI refuse values outside them at the edge (through
``notifier.schemas``); the scan can use the same window to tell a row written before
the bounds existed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

# Every instant the ledger keeps lies in [EARLIEST, LATEST): far enough either side of
# today for any real deadline, and far enough from datetime's own limits (years 1 and
# 9999) that adding a rule's offset or converting to a customer's zone never overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
WINDOW = f"{EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d}"

# Row ids are BIGINT: PostgreSQL and SQLite both stop at a signed 64-bit integer.
MAX_ID = 2**63 - 1

# Babel formats with Decimal's default 28 significant digits: 15 before the point plus a
# currency's 2-4 decimals stays well inside (1e27 does not: format_currency raises).
AMOUNT_KEY = "amount"
MAX_AMOUNT = Decimal(10**15)
AMOUNT_DECIMALS = 4

# The test clock moves forward at most this far per call: enough to cross any rule's
# stages, not enough to leave the window in a few calls.
MAX_CLOCK_ADVANCE = timedelta(days=3660)

NUL = "\x00"


def check_instant(value: datetime) -> datetime:
    """Return ``value`` in UTC; ValueError when it lies outside the window."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(_outside(value)) from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(_outside(value))
    return utc


def _outside(value: datetime) -> str:
    return f"{value.isoformat()} is outside the times the ledger keeps ({WINDOW})"


def is_within_window(value: datetime) -> bool:
    """True when ``value`` (aware) lies in [EARLIEST, LATEST)."""
    try:
        check_instant(value)
    except ValueError:
        return False
    return True


def check_amount(value: object) -> Decimal:
    """Return the amount as a Decimal; ValueError unless Babel can format it as money.

    A number or a string holding one (CSV cells and ``--attr`` are strings): finite,
    below MAX_AMOUNT in size, with at most AMOUNT_DECIMALS decimals.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number, e.g. 1999.90, not {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number, e.g. 1999.90") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if abs(amount) >= MAX_AMOUNT:
        raise ValueError(f"{value!r} is too large: the limit is below 10^15")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_DECIMALS:
        raise ValueError(f"{value!r} has more than {AMOUNT_DECIMALS} decimals")
    return amount


def unsafe_value(value: object) -> str | None:
    """Return what is wrong with a JSON-like value for storage, or None when it is safe.

    PostgreSQL refuses a NUL character in text and NaN or Infinity in JSON; SQLite takes
    them and hands back rows no other tool reads alike. Nested lists and objects are
    searched too (keys included); the answer names the path, as ``a.b.0``.
    """
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        where, item = stack.pop()
        problem = _scalar_problem(item)
        if problem is not None:
            return f"{where}: {problem}" if where else problem
        children: list[tuple[object, object]] = []
        if isinstance(item, dict):
            children = list(item.items())
        elif isinstance(item, list | tuple):
            children = list(enumerate(item))
        for key, nested in reversed(children):  # reversed: the first problem is told first
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and NUL in key:
                shown = path.replace(NUL, "\\0")
                return f"{shown}: the key contains a NUL character (U+0000)"
            stack.append((path, nested))
    return None


def _scalar_problem(item: object) -> str | None:
    if isinstance(item, str) and NUL in item:
        return "contains a NUL character (U+0000)"
    if isinstance(item, float) and not math.isfinite(item):
        return f"{item} is not a number JSON allows (no NaN or Infinity)"
    return None
