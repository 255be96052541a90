"""What one render may cost: time, output, the size of any one value, loop steps.

The limits come from settings (``RenderLimits.from_settings``); the per-render
account (``Budget``) lives in a context variable, so the renders running at once in
the worker threads each spend their own. Every check happens *before* the work it
pays for, and the deadline is checked at every loop step, call and intercepted
operation: a render stops by itself once its time is up.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass
from datetime import timedelta

from jinja2.exceptions import SecurityError

from notifier.config import RenderSettings
from notifier.domain.errors import NotifierError
from notifier.templates.sizes import Cache, measure

MAX_STEPS = 20_000  # loop iterations plus calls, per render
MAX_RANGE = 1_000  # items one range() may hold
MAX_INT_BITS = 4_096  # an integer a template computes (about 1,233 digits)
MAX_SLOW_TEXT = 65_536  # characters striptags, wordwrap and urlize take (pure-Python loops)

_BUDGET: contextvars.ContextVar[Budget] = contextvars.ContextVar("template_budget")


class LimitExceeded(SecurityError):
    """A render went past one of its limits; the text says which."""


def size_text(n: int) -> str:
    """'1 MB' for 1_000_000, '64 KB' for 65536, '1,234 characters' otherwise."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n:,} characters"


def _seconds_text(t: timedelta) -> str:
    seconds = t.total_seconds()
    return f"{seconds:g} s"


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """The bounds of one render (NOTIFIER_RENDER_TIMEOUT, _MAX_OUTPUT, _MAX_VALUE)."""

    timeout: timedelta = timedelta(seconds=1)
    max_output: int = 65_536  # characters of the rendered message
    max_value: int = 1_000_000  # characters plus items of any one value, nested ones included
    max_steps: int = MAX_STEPS

    def __post_init__(self) -> None:
        if self.timeout <= timedelta(0):
            raise NotifierError("NOTIFIER_RENDER_TIMEOUT: must be greater than zero")
        if self.max_output <= 0:
            raise NotifierError("NOTIFIER_RENDER_MAX_OUTPUT: must be greater than zero")
        if self.max_value <= 0:
            raise NotifierError("NOTIFIER_RENDER_MAX_VALUE: must be greater than zero")

    @classmethod
    def from_settings(cls, settings: RenderSettings) -> RenderLimits:
        """Return the limits NOTIFIER_RENDER_TIMEOUT, _MAX_OUTPUT and _MAX_VALUE describe."""
        return cls(
            timeout=settings.render_timeout,
            max_output=settings.render_max_output,
            max_value=settings.render_max_value,
        )


class Budget:
    """What is left of one render's limits: steps, time and text written."""

    __slots__ = ("deadline", "limits", "sizes", "steps", "written")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.sizes: Cache = {}
        self.steps = limits.max_steps
        self.written = 0
        self.deadline = time.monotonic() + limits.timeout.total_seconds()

    def tick(self) -> None:
        """Raise LimitExceeded once the render's time is up."""
        if time.monotonic() > self.deadline:
            raise LimitExceeded(
                f"template exceeds the {_seconds_text(self.limits.timeout)} time limit "
                "(NOTIFIER_RENDER_TIMEOUT)"
            )

    def spend(self) -> None:
        """Count one loop step or call, and check the deadline."""
        self.steps -= 1
        if self.steps < 0:
            raise LimitExceeded(
                f"template exceeds the limit of {self.limits.max_steps} loop steps and calls"
            )
        self.tick()

    def size(self, value: object) -> int:
        """``value``'s size (characters plus items, nested), counted at most once per render."""
        return measure(value, self.limits.max_value, self.sizes)

    def value(self, size: int, what: str) -> None:
        """Refuse a value of ``size`` (characters plus items) past NOTIFIER_RENDER_MAX_VALUE."""
        if size > self.limits.max_value:
            raise LimitExceeded(value_message(self.limits.max_value, what))

    def write(self, size: int) -> None:
        """Count text written anywhere (macros, blocks, set blocks): at most one value's worth."""
        self.written += size
        if self.written > self.limits.max_value:
            raise LimitExceeded(
                f"template exceeds the {size_text(self.limits.max_value)} limit on the text "
                "it writes, macros and blocks included (NOTIFIER_RENDER_MAX_VALUE)"
            )


def value_message(limit: int, what: str) -> str:
    """The one-line refusal of a value past ``limit``, naming the operation."""
    return f"template exceeds the {size_text(limit)} limit on one value ({what!r})"


def output_message(limit: int) -> str:
    """The one-line refusal of a message past NOTIFIER_RENDER_MAX_OUTPUT."""
    return (
        f"template exceeds the {size_text(limit)} limit on its output (NOTIFIER_RENDER_MAX_OUTPUT)"
    )


class BudgetScope:
    """The block one render runs in: ``with`` sets its budget, leaving restores the last."""

    __slots__ = ("_token", "budget")

    def __init__(self, limits: RenderLimits) -> None:
        self.budget = Budget(limits)
        self._token: contextvars.Token[Budget] | None = None

    def __enter__(self) -> Budget:
        self._token = _BUDGET.set(self.budget)
        return self.budget

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _BUDGET.reset(self._token)


def render_budget(limits: RenderLimits) -> BudgetScope:
    """Give the render inside this ``with`` block its own budget under ``limits``."""
    # A plain object, not a @contextmanager generator: this runs once per message.
    return BudgetScope(limits)


def current() -> Budget:
    """The budget of the render in progress.

    Outside a render (Jinja folding constants at compile time) this raises, so a
    guarded operation is never folded and always runs, and is checked, at render time.
    """
    budget = _BUDGET.get(None)
    if budget is None:
        raise LimitExceeded("outside a render")
    return budget
