"""Jinja2's builtin filters and the str, bytes and dict methods, sized before they run.

Each operation that can make its result much bigger than its inputs (``join``,
``replace``, ``format``, ``indent``, ``center``, ``ljust`` ...) has its result size
computed first, from the arguments, and is refused past NOTIFIER_RENDER_MAX_VALUE.
Operations whose result is at most a small multiple of their input (``upper``,
``escape``, ``tojson`` without indent ...) are checked after: as every input is
itself bounded, so is what they build. A filter that returns an iterator hands
back one that counts what it yields, so ``map`` cannot build, item by item, what
``join`` would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import update_wrapper
from typing import Any

from jinja2 import pass_environment
from jinja2.filters import make_attrgetter
from jinja2.utils import _PassArg

from notifier.templates.render_limits import (
    MAX_SLOW_TEXT,
    Budget,
    LimitExceeded,
    current,
    size_text,
)
from notifier.templates.sizes import (
    field_size,
    indent_size,
    join_size,
    json_size,
    measure,
    printf_size,
    replace_size,
    translate_size,
)

Args = tuple[Any, ...]
Kwargs = dict[str, Any]
# (budget, arguments after the context, keyword arguments, the context Jinja passed or None)
Precheck = Callable[[Budget, Args, Kwargs, Any], tuple[Args, Kwargs]]


def checked(budget: Budget, result: object, what: str) -> Any:
    """Return ``result`` once its size is within the limit; an iterator comes back counted."""
    if isinstance(result, str):  # most results: sized at once (Iterator is a slow ABC check)
        budget.value(len(result), what)
        return result
    if isinstance(result, Iterator) and not isinstance(result, bytes):
        return counted(budget, result, what)
    budget.value(budget.size(result), what)
    return result


def counted(budget: Budget, items: Iterable[object], what: str) -> Iterator[object]:
    """Yield ``items``, refusing once what they add up to passes the value limit."""
    total = 0
    for item in items:
        budget.tick()
        total += 1 + budget.size(item)
        budget.value(total, what)
        yield item


def materialize(budget: Budget, items: object, what: str) -> list[object]:
    """The items of ``items`` as a list, counted as they come."""
    if isinstance(items, list | tuple | str | bytes):
        return list(items)
    if isinstance(items, Mapping):
        return list(items)
    return list(counted(budget, items, what))  # type: ignore[arg-type]  # any iterable


def refuse_slow_text(budget: Budget, text: object, what: str) -> None:
    """Refuse a long text for a filter that runs a Python loop over its pieces."""
    if measure(text, MAX_SLOW_TEXT) > MAX_SLOW_TEXT:
        raise LimitExceeded(
            f"template exceeds the {size_text(MAX_SLOW_TEXT)} limit on text for {what!r}"
        )


# Filters -------------------------------------------------------------------------------


def _join(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    value, d, attribute = _params(args, kwargs, ("value", "d", "attribute"), ("", None))
    items = materialize(budget, value, "join")
    if attribute is not None:
        getter = make_attrgetter(lead.environment, attribute)
        items = [getter(item) for item in items]
    budget.value(join_size(items, d, budget.limits.max_value), "join")
    return (items, d), {}


def _format(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    value, *rest = args
    if isinstance(value, str):
        budget.value(printf_size(value, kwargs or tuple(rest), budget.limits.max_value), "format")
    return args, kwargs


def _replace(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    s, old, new, count = _params(args, kwargs, ("s", "old", "new", "count"), (None,))
    text = s if isinstance(s, str) else str(s)
    size = replace_size(text, str(old), str(new), -1 if count is None else int(count))
    budget.value(size, "replace")
    return args, kwargs


def _center(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    value, width = _params(args, kwargs, ("value", "width"), (80,))
    if isinstance(width, int):
        budget.value(max(budget.size(value), width), "center")
    return args, kwargs


def _indent(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    s, width = _params(args, kwargs, ("s", "width"), (4,))
    text = s if isinstance(s, str) else str(s)
    budget.value(indent_size(text, width, budget.limits.max_value), "indent")
    return args, kwargs


def _batch(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    _, linecount, fill_with = _params(args, kwargs, ("value", "linecount", "fill_with"), (None,))
    if fill_with is not None and isinstance(linecount, int):
        budget.value(linecount * (1 + budget.size(fill_with)), "batch")
    return args, kwargs


def _slice(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    _, slices = _params(args, kwargs, ("value", "slices"), ())
    if isinstance(slices, int):
        budget.value(slices, "slice")
    return args, kwargs


def _tojson(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    value, indent = _params(args, kwargs, ("value", "indent"), (None,))
    budget.value(json_size(value, indent, budget.limits.max_value), "tojson")
    return args, kwargs


def _slow_text(name: str) -> Precheck:
    def check(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
        refuse_slow_text(budget, args[0] if args else kwargs.get("value", kwargs.get("s")), name)
        return args, kwargs

    return check


def _wordwrap(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    names = ("s", "width", "break_long_words", "wrapstring")
    s, _, _, wrapstring = _params(args, kwargs, names, (79, True, None))
    refuse_slow_text(budget, s, "wordwrap")
    text = str(s)
    # At most one line per character (width 1), each joined by wrapstring.
    joiner = len(str(wrapstring)) if wrapstring is not None else 1
    budget.value(len(text) + (len(text) + text.count("\n") + 1) * joiner, "wordwrap")
    return args, kwargs


def _urlize(budget: Budget, args: Args, kwargs: Kwargs, lead: Any) -> tuple[Args, Kwargs]:
    refuse_slow_text(budget, args[0] if args else kwargs.get("value"), "urlize")
    value = str(args[0] if args else kwargs.get("value"))
    extra = sum(len(str(kwargs.get(k) or "")) for k in ("target", "rel"))
    # Each word may become a link: <a href="https://...">...</a>, escaped.
    budget.value(12 * len(value) + (value.count(" ") + 1) * (extra + 40), "urlize")
    return args, kwargs


PRECHECKS: dict[str, Precheck] = {
    "join": _join,
    "format": _format,
    "replace": _replace,
    "center": _center,
    "indent": _indent,
    "batch": _batch,
    "slice": _slice,
    "tojson": _tojson,
    "striptags": _slow_text("striptags"),
    "wordwrap": _wordwrap,
    "urlize": _urlize,
}


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` checked before (when it can grow its input) and after (its result)."""
    leading = 1 if _PassArg.from_obj(func) is not None else 0
    pre = PRECHECKS.get(name)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        if pre is not None:
            lead = args[0] if leading else None
            rest, kwargs = pre(budget, args[leading:], kwargs, lead)
            args = (*args[:leading], *rest)
        return checked(budget, func(*args, **kwargs), name)

    return update_wrapper(guarded, func)


@pass_environment
def bounded_sum(
    environment: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
) -> Any:
    """``sum`` one addition at a time: each result sized before it is built, time checked."""
    budget = current()
    items = materialize(budget, iterable, "sum")
    if attribute is not None:
        getter = make_attrgetter(environment, attribute)
        items = [getter(item) for item in items]
    if isinstance(start, str):
        raise TypeError("sum() can't sum strings [use |join instead]")
    if _numbers([start, *items]):
        return sum(items, start)  # type: ignore[arg-type]  # numbers, checked above
    total = start
    size = budget.size(start)
    for item in items:
        budget.tick()
        size += budget.size(item)  # what total + item will hold, before it is built
        budget.value(size, "sum")
        total = total + item
    return total


def _numbers(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) for v in values)


def _params(
    args: Args, kwargs: Kwargs, names: tuple[str, ...], defaults: tuple[Any, ...]
) -> list[Any]:
    """The values of ``names`` from positional and keyword arguments, defaults last."""
    first_default = len(names) - len(defaults)
    out = []
    for i, name in enumerate(names):
        if i < len(args):
            out.append(args[i])
        elif name in kwargs:
            out.append(kwargs[name])
        elif i >= first_default:
            out.append(defaults[i - first_default])
        else:
            out.append(None)
    return out


# Methods of str, bytes and dict ------------------------------------------------------------


def check_method(budget: Budget, owner: object, name: str, args: Args, kwargs: Kwargs) -> Args:
    """Size a str, bytes or dict method's result before it runs; return the arguments to use."""
    limit = budget.limits.max_value
    what = f"{(owner if isinstance(owner, type) else type(owner)).__name__}.{name}"
    if isinstance(owner, str | bytes):
        n = len(owner)
        if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
            budget.value(max(n, args[0]), what)
        elif name == "expandtabs":
            tab = "\t" if isinstance(owner, str) else b"\t"
            size = args[0] if args else kwargs.get("tabsize", 8)
            size = size if isinstance(size, int) else 8
            budget.value(n + owner.count(tab) * max(size, 0), what)  # type: ignore[arg-type]
        elif name == "replace" and len(args) >= 2 and type(args[0]) is type(args[1]):
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            count = count if isinstance(count, int) else -1
            if isinstance(args[0], str | bytes):
                budget.value(replace_size(owner, args[0], args[1], count), what)
        elif name == "join" and args:
            items = materialize(budget, args[0], what)
            budget.value(join_size(items, owner, limit), what)
            return (items, *args[1:])
        elif name == "translate" and args and isinstance(owner, str):
            budget.value(translate_size(owner, args[0], limit), what)
        elif name == "striptags":
            refuse_slow_text(budget, owner, what)
    elif isinstance(owner, dict | type) and name == "fromkeys" and args:
        keys = materialize(budget, args[0], what)
        value = args[1] if len(args) > 1 else None
        budget.value(len(keys) * (1 + budget.size(value)) + budget.size(keys), what)
        return (keys, *args[1:])
    return args


def format_field_size(budget: Budget, value: object, spec: str) -> int:
    """The size ``format(value, spec)`` would have, for str.format accounting."""
    return field_size(value, spec, budget.limits.max_value)
