"""Planned maintenance: an incident a file opens at its start and resolves at its end.

A maintenance (``rules/incidents/*.yaml``) names its window; each scan compares the
windows in force with the incidents they opened (one per maintenance ever: its
``source`` ``maintenance:<id>`` is unique) and returns what to do now:

- start passed, end not yet, never opened: open it (late, if the daemon was down at start);
- start and end both passed, never opened: missed (the daemon was down through it), not
  opened late;
- opened and still open: resolve it once its end passed, or once its maintenance left the
  files; an end moved while open is followed (a new estimate is published at once);
- opened and resolved (at its end, or by a person): done, whatever the file says later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from notifier.domain.incidents import UPDATES_ON, Severity
from notifier.domain.models import ChannelName, JSONValue

SOURCE_PREFIX = "maintenance:"
MoveKind = Literal["open", "reschedule", "resolve", "missed"]


@dataclass(frozen=True, slots=True)
class Maintenance:
    """One planned maintenance window, as a file describes it."""

    id: str
    titles: Mapping[str, str]  # locale: headline
    segment: Mapping[str, JSONValue]  # as ``parse_match`` gives it
    start: datetime
    end: datetime
    severity: Severity = Severity.MINOR
    opened: Mapping[str, str] | None = None  # the opening's texts per locale
    updated: Mapping[str, str] | None = None  # the texts of a moved end's update
    resolved: Mapping[str, str] | None = None  # the resolution's
    updates_on: tuple[ChannelName, ...] = UPDATES_ON
    through_quiet_hours: bool | None = None  # None: as its severity says (critical passes)

    @property
    def source(self) -> str:
        """The incident's unique source, and who it is opened and resolved by."""
        return f"{SOURCE_PREFIX}{self.id}"

    @property
    def passes_quiet_hours(self) -> bool:
        """True when its messages go through the customers' quiet hours."""
        if self.through_quiet_hours is None:
            return self.severity is Severity.CRITICAL
        return self.through_quiet_hours


@dataclass(frozen=True, slots=True)
class Opened:
    """The incident a maintenance opened, as the store has it now."""

    source: str
    incident_id: int
    is_open: bool
    # The end last published by the maintenance itself (its estimate): a new estimate
    # a person published is theirs, and does not make the file's end look moved.
    end_published: datetime | None


@dataclass(frozen=True, slots=True)
class Move:
    """One thing to do now for one maintenance."""

    kind: MoveKind
    source: str
    maintenance: Maintenance | None = None  # None: it left the files
    incident_id: int | None = None


def maintenance_moves(
    windows: Sequence[Maintenance], opened: Mapping[str, Opened], now: datetime
) -> list[Move]:
    """Return what to do at ``now`` for each window and each incident one opened."""
    moves: list[Move] = []
    for m in windows:
        found = opened.get(m.source)
        if found is None:
            if m.start <= now < m.end:
                moves.append(Move("open", m.source, m))
            elif now >= m.end:
                moves.append(Move("missed", m.source, m))
        elif found.is_open:
            if now >= m.end:
                moves.append(Move("resolve", m.source, m, found.incident_id))
            elif found.end_published != m.end:
                moves.append(Move("reschedule", m.source, m, found.incident_id))
    named = {m.source for m in windows}
    moves.extend(
        Move("resolve", o.source, None, o.incident_id)
        for o in opened.values()
        if o.is_open and o.source not in named
    )
    return moves


def next_maintenance_at(windows: Iterable[Maintenance], after: datetime) -> datetime | None:
    """The earliest start or end later than ``after``; None when none is to come."""
    return min((at for m in windows for at in (m.start, m.end) if at > after), default=None)
