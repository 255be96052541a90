"""A problem found in a file ops edit, reported as ``path:line:column: message``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    file: str
    line: int
    column: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.column}: {prefix}{self.message}"


def has_errors(problems: list[Problem]) -> bool:
    """True when any problem is an error (warnings alone keep a set loadable)."""
    return any(p.severity == "error" for p in problems)
