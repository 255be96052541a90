"""The ``crisis:`` lists of the rule files, checked with the rules (``check.py``).

Each file's crisis rules are parsed with their positions; ids must be unique across
files (they key the detection state: renaming one starts its groups afresh).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from notifier.domain.detection import CrisisRule
from notifier.domain.problems import Problem
from notifier.domain.rules.crisis_file import parse_crisis
from notifier.engine.rulefiles.crisis_titles import title_problems
from notifier.engine.rulefiles.loader import YamlDocument


@dataclass(frozen=True, slots=True)
class PlacedCrisis:
    rule: CrisisRule | None  # None: it has errors, but its id still counts for duplicates
    rule_id: str
    file: str
    index: int
    doc: YamlDocument

    def at(self, *path: str | int) -> tuple[int, int]:
        mark = self.doc.mark(("crisis", self.index, *path))
        return mark.line, mark.column


def crisis_in(doc: YamlDocument, shown: str, problems: list[Problem]) -> list[PlacedCrisis]:
    """Return the crisis rules of one file's document; add its problems to ``problems``."""
    data = doc.data
    if not isinstance(data, dict) or "crisis" not in data:
        return []
    rules, errors = parse_crisis(data["crisis"])
    for error in errors:
        mark = doc.mark(error.path, at_key=error.at_key)
        problems.append(Problem(shown, mark.line, mark.column, error.message, error.severity))
    problems.extend(title_problems(doc, shown))  # the titles as Jinja2 (crisis_titles.py)
    valid = dict(rules)
    items = data["crisis"] if isinstance(data["crisis"], list) else []
    return [
        PlacedCrisis(valid.get(index), item["id"], shown, index, doc)
        for index, item in enumerate(items)
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


def duplicate_crisis_ids(placed: list[PlacedCrisis]) -> Iterator[Problem]:
    """Yield a problem for each crisis rule whose id an earlier one has."""
    first: dict[str, PlacedCrisis] = {}
    for p in placed:
        seen = first.setdefault(p.rule_id, p)
        if seen is not p:
            line, column = seen.at("id")
            where = f"{seen.file}:{line}:{column}"
            yield Problem(
                p.file, *p.at("id"), f"duplicate crisis rule id '{p.rule_id}' (first at {where})"
            )
