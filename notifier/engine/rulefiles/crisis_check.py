"""The ``crisis:`` lists of the rule files, checked with the rules (``check.py``).

Each file's crisis rules are parsed with their positions; ids must be unique across
files (they key the detection state: renaming one starts its groups afresh).
"""

from __future__ import annotations

from collections.abc import Iterator

from notifier.domain.detection import CrisisRule
from notifier.domain.problems import Problem
from notifier.domain.rules.crisis_file import parse_crisis
from notifier.engine.rulefiles.crisis_titles import title_problems
from notifier.engine.rulefiles.entries import Placed, duplicate_ids, placed_in
from notifier.engine.rulefiles.loader import YamlDocument

PlacedCrisis = Placed[CrisisRule]


def crisis_in(doc: YamlDocument, shown: str, problems: list[Problem]) -> list[PlacedCrisis]:
    """Return the crisis rules of one file's document; add its problems to ``problems``."""
    data = doc.data
    if not isinstance(data, dict) or "crisis" not in data:
        return []
    found = placed_in(doc, shown, "crisis", parse_crisis(data["crisis"]), problems)
    problems.extend(title_problems(doc, shown))  # the titles as Jinja2 (crisis_titles.py)
    return found


def duplicate_crisis_ids(placed: list[PlacedCrisis]) -> Iterator[Problem]:
    """Yield a problem for each crisis rule whose id an earlier one has."""
    return duplicate_ids(placed, "crisis rule id")
