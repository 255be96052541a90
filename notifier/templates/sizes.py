"""How big a value is, or would be, computed without building it.

A value's size is its characters plus its items, counted through nested lists and
dicts: ``[s] * 1000`` holds only 1,000 references, but writing it out, joining it
or serialising it would build 1,000 copies of ``s``, so it counts that much. Every
function here stops counting as soon as the total passes ``limit``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, MappingView
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

Cache = dict[int, tuple[object, int]]  # id -> (the container, kept alive; its size)


MAX_DEPTH = 64  # deeper than this (customer JSON can nest), count without recursing


def measure(value: object, limit: int, cache: Cache | None = None, depth: int = 0) -> int:
    """The size of ``value`` (characters plus items, nested); past ``limit`` it stops early.

    ``cache`` remembers the size of containers already measured (a render measures the
    same context lists again and again); templates cannot change a list or dict.
    """
    if depth > MAX_DEPTH:
        return _measure_flat(value, limit)
    if isinstance(value, str | bytes):  # most values: answer at once
        return len(value)
    if value is None or isinstance(value, float | bool | datetime | date | timedelta):
        return 1
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 1  # decimal digits, about
    if cache is not None:
        hit = cache.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
    children: Iterable[object]
    if isinstance(value, dict):
        children = (*value.keys(), *value.values())
    elif isinstance(value, list | tuple | set | frozenset | range):
        children = value
    elif isinstance(value, Mapping):
        children = (*value.keys(), *value.values())
    elif isinstance(value, MappingView):
        children = value  # type: ignore[assignment]  # a view iterates its keys or items
    else:
        return 1
    total = len(value)
    for child in children:
        if total > limit:
            return total
        total += measure(child, limit, cache, depth + 1)
    if cache is not None and total <= limit:
        cache[id(value)] = (value, total)
    return total


def _measure_flat(value: object, limit: int) -> int:
    # The same count with a stack instead of recursion, for deeply nested values.
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str | bytes):
            total += len(v)
        elif isinstance(v, Mapping):
            total += len(v)
            stack.extend((*v.keys(), *v.values()))
        elif isinstance(v, list | tuple | set | frozenset | range | MappingView):
            total += len(v)
            stack.extend(v)  # type: ignore[arg-type]  # a view iterates its keys or items
        else:
            total += measure(v, limit)
    return total


def number_size(value: object, precision: int) -> int:
    """Characters a number takes when formatted with ``precision`` digits (an upper bound)."""
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 2 + precision
    if isinstance(value, float):
        return 330 + precision  # the widest finite float written out in full is 309 digits
    if isinstance(value, Decimal) and value.is_finite():
        return abs(value.adjusted()) + len(value.as_tuple().digits) + precision + 4
    return 8 + precision


_PRINTF = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-+ #0]*(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?[hlL]?"
    r"(?P<type>[diouxXeEfFgGcrsab%])"
)


def printf_size(fmt: str | bytes, args: object, limit: int) -> int:
    """An upper bound of the length of ``fmt % args``, computed without formatting it."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    positional = list(args) if isinstance(args, tuple) else [args]
    index = 0

    def take() -> object:
        nonlocal index
        item = positional[index] if index < len(positional) else None
        index += 1
        return item

    total = len(text)
    for m in _PRINTF.finditer(text):
        width = _star_or_int(m["width"], take)
        precision = _star_or_int(m["prec"], take)
        if m["type"] == "%":
            continue
        if m["key"] is not None:
            arg = args.get(m["key"]) if isinstance(args, Mapping) else None
        else:
            arg = take()
        if m["type"] in "rsab":
            size = measure(arg, limit) if m["type"] == "s" else 10 * measure(arg, limit) + 2
            if precision is not None and m["prec"] is not None:
                size = min(size, precision)
        elif m["type"] == "c":
            size = 1
        else:
            size = number_size(arg, precision or 6)
        total += max(width or 0, size)
        if total > limit:
            return total
    return total


def _star_or_int(spec: str | None, take: Any) -> int | None:
    if spec is None or spec == "":
        return None
    value = take() if spec == "*" else int(spec)
    return abs(value) if isinstance(value, int) else 0


_SPEC = re.compile(
    r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<prec>\d+))?(?P<type>[a-zA-Z%])?"
)


def field_size(value: object, spec: str, limit: int) -> int:
    """An upper bound of the length of ``format(value, spec)``."""
    m = _SPEC.fullmatch(spec)
    if m is None:
        # Another mini-language (a date's strftime spec): at most a dozen characters per
        # character of the spec ('%c' is 24).
        return measure(value, limit) + 12 * len(spec)
    width = int(m["width"]) if m["width"] else 0
    precision = int(m["prec"]) if m["prec"] else None
    if isinstance(value, str):
        size = len(value) if precision is None else min(len(value), precision)
    elif isinstance(value, int | float | Decimal):
        size = number_size(value, precision or 6) * 4 // 3  # room for grouping commas
    else:
        size = measure(value, limit) * 10 + 2  # str() of a container quotes its items
    return max(width, size)


def join_size(items: list[object], separator: object, limit: int) -> int:
    """The size of ``separator.join(items)`` with items written out."""
    total = max(len(items) - 1, 0) * measure(separator, limit)
    for item in items:
        if total > limit:
            break
        total += measure(item, limit)
    return total


def replace_size(text: str | bytes, old: str | bytes, new: str | bytes, count: int) -> int:
    """An upper bound of ``len(text.replace(old, new, count))``."""
    found = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]  # same types
    if count >= 0:
        found = min(found, count)
    return len(text) + found * len(new)


def translate_size(text: str, table: object, limit: int) -> int:
    """An upper bound of ``len(text.translate(table))``."""
    if isinstance(table, Mapping):
        total = 0
        for char, n in Counter(text).items():
            out = table.get(ord(char), char)
            total += n * (len(out) if isinstance(out, str) else 1)
            if total > limit:
                break
        return total
    if isinstance(table, Iterable):
        widest = max((measure(x, limit) for x in table), default=1)
        return len(text) * max(widest, 1)
    return len(text)


def indent_size(text: str, width: object, limit: int) -> int:
    """An upper bound of the size of ``text | indent(width)``."""
    pad = len(width) if isinstance(width, str) else max(width, 0) if isinstance(width, int) else 0
    return len(text) + (text.count("\n") + 2) * pad


def json_size(value: object, indent: object, limit: int) -> int:
    """An upper bound of the length of ``value | tojson(indent)``."""
    pad = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    pad = max(pad, 0) if indent is not None else -1
    total = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack and total <= limit:
        v, depth = stack.pop()
        if isinstance(v, str):
            total += 6 * len(v) + 2  # '<' becomes \u003c
        elif isinstance(v, list | tuple | Mapping):
            children: Iterable[object] = [*v.keys(), *v.values()] if isinstance(v, Mapping) else v
            per_item = 4 + (pad * depth + 1 if pad >= 0 else 0)
            total += 2 + len(v) * per_item + (pad * (depth - 1) + 1 if pad >= 0 else 0)
            stack.extend((c, depth + 1) for c in children)
        else:
            total += number_size(v, 0) if not isinstance(v, float) else 24
    return total
