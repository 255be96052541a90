"""The entries of the rule folder's files, each where it is written.

Rule files (``rules:`` and ``crisis:``) and maintenance files (``maintenance:``) are read
the same way: the bytes, the YAML with its marks, the domain's parse, each schema error
at its ``path:line:column``, then every entry with an id placed, so that ids repeated
across files are named at both places. ``check.py``, ``crisis_check.py`` and
``maintenance_files.py`` differ only in the parse and in what an entry is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from notifier.domain.problems import Problem
from notifier.domain.rules.conditions import SchemaError
from notifier.engine.rulefiles.loader import (
    YamlDocument,
    describe_failure,
    display_path,
    read_yaml,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Placed(Generic[T]):
    """One entry of a file's list (``key``): a rule, a crisis rule or a window."""

    value: T | None  # None: it has errors, but its id still counts for duplicates
    id: str
    file: str
    index: int
    doc: YamlDocument
    key: str  # the list it stands in: "rules", "crisis" or "maintenance"
    item: Mapping[str, object]  # the entry as written

    def at(self, *path: str | int) -> tuple[int, int]:
        """Return the line and column of ``path`` inside the entry (or its nearest parent)."""
        mark = self.doc.mark((self.key, self.index, *path))
        return mark.line, mark.column


def read_file(
    path: Path,
    problems: list[Problem],
    parse: Callable[[YamlDocument, str, list[Problem]], list[Placed[T]]],
) -> list[Placed[T]]:
    """Return what ``parse`` places in the file at ``path``; its problems go to ``problems``.

    ``parse`` gets the document, the path as shown and ``problems`` (the shape of
    ``crisis_in``). It is called here, not by the caller on a yielded document, so that
    an exception in it refuses this file alone ("cannot check this file") and the other
    files are still checked.
    """
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
        return parse(doc, shown, problems)
    except Exception as exc:  # the file is refused; the other files are still checked
        problems.append(Problem(shown, 1, 1, describe_failure("cannot check this file", exc)))
        return []


def placed_in(
    doc: YamlDocument,
    shown: str,
    key: str,
    parsed: tuple[Sequence[tuple[int, T]], Sequence[SchemaError]],
    problems: list[Problem],
) -> list[Placed[T]]:
    """Return the entries of the document's ``key`` list with an id; add the parse's errors.

    ``parsed`` is the domain's answer: the valid entries by index, and the errors. An
    entry with errors is placed too (value None): its id still counts for duplicates.
    """
    valid, errors = parsed
    for error in errors:
        mark = doc.mark(error.path, at_key=error.at_key)
        problems.append(Problem(shown, mark.line, mark.column, error.message, error.severity))
    values = dict(valid)
    items = doc.data.get(key) if isinstance(doc.data, dict) else None
    return [
        Placed(values.get(index), item["id"], shown, index, doc, key, item)
        for index, item in enumerate(items if isinstance(items, list) else [])
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


def duplicate_ids(placed: Sequence[Placed[T]], what: str) -> Iterator[Problem]:
    """Yield ``duplicate <what> 'id' (first at file:line:column)`` for each id seen before."""
    first: dict[str, Placed[T]] = {}
    for p in placed:
        seen = first.setdefault(p.id, p)
        if seen is not p:
            line, column = seen.at("id")
            where = f"{seen.file}:{line}:{column}"
            yield Problem(p.file, *p.at("id"), f"duplicate {what} '{p.id}' (first at {where})")
