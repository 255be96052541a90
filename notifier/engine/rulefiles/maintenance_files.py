"""The maintenance files (``rules/incidents/*.yaml``), checked with the rules.

Each problem at its ``path:line:column``: YAML, the schema (``domain/maintenance_file.py``),
ids repeated across files, and texts whose SMS would take more than
NOTIFIER_MAX_SMS_SEGMENTS segments once the crisis templates wrap them. Like a rule
file, a broken maintenance file refuses the whole set: the last good one stays in force.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from notifier.domain.incident_texts import locale_tag
from notifier.domain.incidents import OPENED, RESOLVED, UPDATED
from notifier.domain.maintenance import Maintenance
from notifier.domain.maintenance_file import parse_maintenance_file
from notifier.domain.problems import Problem
from notifier.engine.rulefiles.entries import Placed, duplicate_ids, placed_in, read_file
from notifier.engine.rulefiles.loader import (
    YamlDocument,
    YamlPath,
    describe_failure,
    display_path,
    rule_files,
)
from notifier.templates.incident_sms import SmsRenderer, sms_overflows

FOLDER = "incidents"  # under the rules folder


class TextMeasure(SmsRenderer, Protocol):
    """The renderer, as the checker measures the texts with it."""

    default_locale: str
    max_sms_segments: int


@dataclass(frozen=True, slots=True)
class MaintenanceLoad:
    windows: tuple[Maintenance, ...] = ()
    problems: tuple[Problem, ...] = ()
    files: tuple[str, ...] = ()


_Placed = Placed[Maintenance]


def load_maintenance(rules_dir: Path, renderer: TextMeasure | None) -> MaintenanceLoad:
    """Return the windows of ``rules_dir/incidents`` and every problem in their files.

    No folder: no windows, and nothing wrong. ``renderer`` None: texts are not measured.
    """
    folder = rules_dir / FOLDER
    if not folder.is_dir():
        return MaintenanceLoad()
    problems: list[Problem] = []
    placed: list[_Placed] = []
    files = rule_files(folder)
    for path in files:
        placed.extend(read_file(path, problems, _windows_in))
    problems.extend(duplicate_ids(placed, "maintenance id"))
    for p in placed:
        if renderer is not None and p.value is not None:
            problems.extend(_measured(p, p.value, renderer))
    windows = tuple(p.value for p in placed if p.value is not None)
    return MaintenanceLoad(windows, tuple(problems), tuple(display_path(p) for p in files))


def _windows_in(doc: YamlDocument, shown: str, problems: list[Problem]) -> list[_Placed]:
    return placed_in(doc, shown, "maintenance", parse_maintenance_file(doc.data), problems)


def _measured(p: _Placed, m: Maintenance, renderer: TextMeasure) -> Iterator[Problem]:
    """The texts whose SMS is too long, each at the text of its locale (else the title)."""
    steps = (
        (OPENED, "opened", m.opened, m.end),
        (UPDATED, "updated", m.updated, m.end),
        (RESOLVED, "resolved", m.resolved, None),
    )
    for message, key, texts, estimate in steps:
        try:
            found = sms_overflows(
                renderer, message, m.titles, texts or {}, estimate, m.start,
                default_locale=renderer.default_locale, max_segments=renderer.max_sms_segments,
            )  # fmt: skip
        except Exception as exc:  # a template that raises: the set is refused, not the check
            yield Problem(p.file, *p.at("id"), describe_failure("cannot measure", exc))
            continue
        for over in found:
            at = _text_at(p, ("messages", key), over.locale) or _text_at(p, ("title",), over.locale)
            line, column = p.at(*(at or ("title",)))
            yield Problem(p.file, line, column, over.describe(message, renderer.max_sms_segments))


def _text_at(p: _Placed, where: tuple[str, ...], locale: str) -> YamlPath | None:
    """Where the text of ``locale`` is written under ``where``, as the file spells its tag."""
    node: object = p.item
    for key in where:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        for raw in node:
            if locale_tag(str(raw)) == locale:
                return (*where, raw)
    return None
