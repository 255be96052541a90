"""The sandbox templates run in: no escapes, and a bound on what a template can build.

Jinja2's ``SandboxedEnvironment`` already refuses attribute walks such as
``__globals__`` or ``__subclasses__``. A message must also never exhaust memory or
time, so on top of it this environment:

- intercepts ``*``, ``**``, ``+`` and ``%`` and refuses results past ``MAX_VALUE``;
- caps ``range`` at ``MAX_RANGE`` and every call and loop step against a per-render
  budget of ``MAX_STEPS`` (so nested loops and recursive macros stop early);
- refuses ``recursive`` loops, widths and padding past ``MAX_WIDTH``;
- leaves out ``lipsum`` and ``namespace`` (the only way to accumulate across loop
  iterations), and forbids changing lists and dicts (``ImmutableSandboxedEnvironment``);
- turns autoescape on inside a block named ``html`` only, so a subject or a plain
  text part never shows ``&amp;``.

The renderer caps the rendered size with ``MAX_OUTPUT``.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import update_wrapper
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_VALUE = 64_000  # characters or items any one intermediate value may hold
MAX_OUTPUT = 256_000  # characters a whole rendered template may hold
MAX_RANGE = 1_000
MAX_STEPS = 20_000  # loop iterations plus calls, per render
MAX_WIDTH = 1_000  # padding, indentation and format widths
MAX_EXPONENT_BITS = 4_096

_STEPS: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_steps")
_WIDE_FORMAT = re.compile(r"%[-+ #0]*(\*|\d{4,})|\{[^{}]*?\d{4,}[^{}]*\}")
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_WIDTH_FILTERS = frozenset({"center", "indent", "truncate", "wordwrap", "batch", "slice"})


@contextmanager
def step_budget(steps: int = MAX_STEPS) -> Iterator[None]:
    """Give the renders inside this block ``steps`` loop iterations and calls between them."""
    token = _STEPS.set([steps])
    try:
        yield
    finally:
        _STEPS.reset(token)


def _spend() -> None:
    budget = _STEPS.get(None)
    if budget is None:
        return
    budget[0] -= 1
    if budget[0] < 0:
        raise SecurityError(f"template exceeds {MAX_STEPS} loop steps and calls")


def _check_size(value: object, what: str) -> object:
    if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE:
        raise SecurityError(f"{what} would build {len(value)} items (limit {MAX_VALUE})")
    return value


def _sized(value: object) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def _check_format(fmt: object) -> None:
    if isinstance(fmt, str) and _WIDE_FORMAT.search(fmt):
        raise SecurityError(f"format widths over {MAX_WIDTH} are not allowed")


def _check_widths(args: Iterable[object], what: str) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_WIDTH:
            raise SecurityError(f"{what}: width {arg} is over the limit of {MAX_WIDTH}")


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range of {len(rng)} items is over the limit of {MAX_RANGE}")
    return rng


def _steps(iterable: Iterable[object]) -> Iterator[object]:
    for item in iterable:
        _spend()
        yield item


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """A Jinja2 sandbox with StrictUndefined and bounds on size, loops and calls."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, loader: BaseLoader) -> None:
        super().__init__(
            loader=loader,
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,
            cache_size=-1,
        )
        self.globals.pop("lipsum", None)
        self.globals.pop("namespace", None)
        self.globals["range"] = _bounded_range
        self.filters["_steps"] = _steps
        for name in _WIDTH_FILTERS | {"format", "replace"}:
            self.filters[name] = _guard_filter(name, self.filters[name])

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Apply ``operator`` unless its result would be too big to build."""
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                size = _sized(seq)
                if size is not None and isinstance(n, int) and size * n > MAX_VALUE:
                    raise SecurityError(
                        f"repeating {size} items {n} times is over the limit of {MAX_VALUE}"
                    )
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if max(abs(left), 2).bit_length() * abs(right) > MAX_EXPONENT_BITS:
                raise SecurityError(f"{left} ** {right} is too large a number")
        elif operator == "+":
            a, b = _sized(left), _sized(right)
            if a is not None and b is not None and a + b > MAX_VALUE:
                raise SecurityError(f"joining {a} and {b} items is over the limit of {MAX_VALUE}")
        elif operator == "%":
            _check_format(left)
        return _check_size(super().call_binop(context, operator, left, right), operator)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``__obj`` from a template, counting the call against the step budget."""
        _spend()
        name = getattr(__obj, "__name__", "")
        if isinstance(getattr(__obj, "__self__", None), str):
            if name in _WIDTH_METHODS:
                _check_widths([*args, *kwargs.values()], f"str.{name}")
            if name == "replace" and len(args) >= 2:
                _check_replace(__obj.__self__, args[0], args[1])
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_size(result, f"{name or 'call'}()")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Sandbox ``str.format`` as Jinja2 does, and refuse huge field widths."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format(value.__self__)
        return wrapped

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            if loop.recursive:
                raise TemplateSyntaxError(
                    "recursive loops are not allowed in messages", loop.lineno, name, filename
                )
            loop.iter = nodes.Filter(loop.iter, "_steps", [], [], None, None, lineno=loop.lineno)
        for block in tree.find_all(nodes.Block):
            if block.name == "html":
                on = nodes.Keyword("autoescape", nodes.Const(True), lineno=block.lineno)
                block.body = [
                    nodes.ScopedEvalContextModifier([on], block.body, lineno=block.lineno)
                ]
        return tree


def _check_replace(text: object, old: object, new: object) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        grown = len(text) + (text.count(old) if old else len(text) + 1) * len(new)
        if grown > MAX_VALUE:
            raise SecurityError(f"replace would build {grown} characters (limit {MAX_VALUE})")


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        values = [a for a in args if not isinstance(a, Context)]
        if name == "format" and values:
            _check_format(values[0])
        elif name == "replace" and len(values) >= 3:
            _check_replace(values[0], values[1], values[2])
        else:
            _check_widths([*values[1:], *kwargs.values()], f"filter {name}")
        return _check_size(func(*args, **kwargs), f"filter {name}")

    return update_wrapper(guarded, func)
