"""The maintenance files (``rules/incidents/*.yaml``), checked with the rules.

Each problem at its ``path:line:column``: YAML, the schema (``domain/maintenance_file.py``),
ids repeated across files, and texts whose SMS would take more than
NOTIFIER_MAX_SMS_SEGMENTS segments once the crisis templates wrap them. Like a rule
file, a broken maintenance file refuses the whole set: the last good one stays in force.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from notifier.domain.incident_texts import locale_tag
from notifier.domain.incidents import OPENED, RESOLVED, UPDATED
from notifier.domain.maintenance import Maintenance
from notifier.domain.maintenance_file import parse_maintenance_file
from notifier.domain.problems import Problem
from notifier.engine.rulefiles.loader import (
    YamlDocument,
    YamlPath,
    describe_failure,
    display_path,
    read_yaml,
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


@dataclass(frozen=True, slots=True)
class _Placed:
    window: Maintenance | None  # None: it has problems, but its id still counts
    window_id: str
    file: str
    index: int
    doc: YamlDocument
    item: Mapping[str, object]

    def at(self, *path: str | int) -> tuple[int, int]:
        mark = self.doc.mark(("maintenance", self.index, *path))
        return mark.line, mark.column


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
        placed.extend(_load_file(path, problems))
    problems.extend(_duplicate_ids(placed))
    for p in placed:
        if renderer is not None and p.window is not None:
            problems.extend(_measured(p, p.window, renderer))
    windows = tuple(p.window for p in placed if p.window is not None)
    return MaintenanceLoad(windows, tuple(problems), tuple(display_path(p) for p in files))


def _load_file(path: Path, problems: list[Problem]) -> list[_Placed]:
    shown = display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(shown, 1, 1, f"cannot read: {exc.strerror or exc}"))
        return []
    try:
        doc, found = read_yaml(raw, shown)
        problems.extend(found)
        if doc is None:
            return []
        windows, errors = parse_maintenance_file(doc.data)
    except Exception as exc:  # the file is refused; the other files are still checked
        problems.append(Problem(shown, 1, 1, describe_failure("cannot check this file", exc)))
        return []
    for error in errors:
        mark = doc.mark(error.path, at_key=error.at_key)
        problems.append(Problem(shown, mark.line, mark.column, error.message, error.severity))
    valid = dict(windows)
    items = doc.data.get("maintenance") if isinstance(doc.data, dict) else None
    return [
        _Placed(valid.get(index), item["id"], shown, index, doc, item)
        for index, item in enumerate(items if isinstance(items, list) else [])
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


def _duplicate_ids(placed: list[_Placed]) -> Iterator[Problem]:
    first: dict[str, _Placed] = {}
    for p in placed:
        seen = first.setdefault(p.window_id, p)
        if seen is not p:
            line, column = seen.at("id")
            where = f"{seen.file}:{line}:{column}"
            yield Problem(
                p.file, *p.at("id"), f"duplicate maintenance id '{p.window_id}' (first at {where})"
            )


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
