"""What one span of a crisis fan-out did (``store/incident_plans.py`` yields one a span)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Joined:
    """Customers joined anew in a span, and the rows planned for them (the newest step)."""

    customers: int
    rows: int
