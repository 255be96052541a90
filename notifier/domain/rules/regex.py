"""Patterns of ``regex`` conditions, run by RE2: matching takes time linear in the text.

Python's ``re`` backtracks: ``^(a+)+$`` against 28 characters froze the scan for 14 s,
twice as long with each character more. RE2 never backtracks, so it cannot run what
needs backtracking (backreferences, lookaround, atomic groups, possessive quantifiers,
conditionals): the checker refuses those at the pattern and says why.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Protocol

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refusal is reported as a problem, not printed on stderr
_BACKREFERENCE = re.compile(r"^invalid escape sequence: \\[1-9]")
_WHY = (
    ("invalid perl operator: (?P", "backreferences ((?P=name)) are"),
    ("invalid perl operator: (?=", "lookahead ((?=...)) is"),
    ("invalid perl operator: (?!", "lookahead ((?!...)) is"),
    ("invalid perl operator: (?<=", "lookbehind ((?<=...)) is"),
    ("invalid perl operator: (?<!", "lookbehind ((?<!...)) is"),
    ("invalid perl operator: (?>", "atomic groups ((?>...)) are"),
    ("invalid perl operator: (?(", "conditionals ((?(1)...)) are"),
    ("bad repetition operator:", "possessive quantifiers (a*+, a++) are"),
)


class _Compiled(Protocol):
    def search(self, text: str) -> object | None: ...


@dataclass(frozen=True, slots=True)
class Regex:
    """A compiled pattern; two are equal when their patterns are."""

    pattern: str
    compiled: _Compiled = field(compare=False, repr=False)

    def search(self, text: str) -> bool:
        """True when the pattern matches somewhere in ``text``."""
        return self.compiled.search(text) is not None


def compile_regex(pattern: str) -> Regex:
    """Return ``pattern`` compiled by RE2; a ValueError says why it cannot be."""
    try:
        return Regex(pattern, re2.compile(pattern, _OPTIONS))
    except re2.error as exc:
        refusal = exc.args[0].decode("utf-8", "replace") if exc.args else str(exc)
    except (RecursionError, OverflowError, MemoryError) as exc:
        refusal = type(exc).__name__
    # Python's parser names the position of a plain syntax error; what it accepts and
    # RE2 does not is a feature that needs backtracking.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
    raise ValueError(f"invalid regex {pattern!r}: {_why(refusal)}")


def _why(refusal: str) -> str:
    if _BACKREFERENCE.match(refusal):
        feature: str | None = "backreferences (\\1) are"
    else:
        feature = next((f for start, f in _WHY if refusal.startswith(start)), None)
    if feature is None:
        return f"RE2 cannot run it ({refusal})"
    return (
        f"{feature} not supported: patterns run on RE2, which matches in time linear "
        "in the text and never backtracks"
    )
