"""The titles of the crisis rules, checked as the Jinja2 templates they are.

The domain parses a title as text (``domain/rules/crisis_file.py``); here each one is
compiled in the messages' sandbox and the group fields it reads are checked against
the rule's ``group_by``, at the title's ``path:line:column``, so a mistyped
``{{ group.carier }}`` is refused by ``rules check`` instead of by a scan in the middle
of a crisis. With the templates at hand, a title's locale must also be one they ship:
the incident's messages are written per locale, and a title in any other is never read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from notifier.domain.problems import Problem
from notifier.domain.rules.crisis_file import LOCALE_KEY
from notifier.domain.rules.spelling import did_you_mean
from notifier.engine.rulefiles.loader import YamlDocument
from notifier.templates.title_templates import TitleTemplates


class PlacedRule(Protocol):
    """A crisis rule where it is written (``crisis_check.PlacedCrisis``)."""

    @property
    def file(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def doc(self) -> YamlDocument: ...


def title_problems(doc: YamlDocument, shown: str) -> list[Problem]:
    """Return the problems of every crisis title in one file: syntax, unknown fields, and a
    warning for one that fails to render with sample values."""
    templates = TitleTemplates()
    problems: list[Problem] = []
    for index, item in enumerate(_items(doc)):
        names = _group_names(item.get("group_by"))
        for locale, text in _titles(item):
            mark = doc.mark(("crisis", index, "incident", "title", locale))
            found = templates.problems(text, names)
            for message in found:
                problems.append(Problem(shown, mark.line, mark.column, message))
            failed = templates.trial(text, names) if names is not None and not found else None
            if failed is not None:  # a warning: detection falls back to a plain title
                message = (
                    f"the {locale} title fails with sample values ({failed}); a detection "
                    "would fall back to the rule id and the group's values"
                )
                problems.append(Problem(shown, mark.line, mark.column, message, "warning"))
    return problems


def locale_problems(placed: Iterable[PlacedRule], locales: Sequence[str]) -> Iterator[Problem]:
    """Yield a problem for each title in a locale the templates do not ship, at its key."""
    shipped = ", ".join(locales) or "none"
    for p in placed:
        items = _items(p.doc)
        item = items[p.index] if p.index < len(items) else {}
        for locale, _ in _titles(item):
            if locale in locales or not LOCALE_KEY.match(locale):  # the domain refuses those
                continue
            same = [loc for loc in locales if loc.lower() == locale.lower()]
            hint = f" (did you mean '{same[0]}'?)" if same else did_you_mean(locale, locales)
            mark = p.doc.mark(("crisis", p.index, "incident", "title", locale), at_key=True)
            yield Problem(p.file, mark.line, mark.column, f"no templates in locale "
                          f"'{locale}'{hint}: the templates ship {shipped}")  # fmt: skip


def _items(doc: YamlDocument) -> list[dict[str, object]]:
    data = doc.data
    raw = data.get("crisis") if isinstance(data, dict) else None
    # Index for index as the file has them, a non-mapping as an empty rule.
    return [i if isinstance(i, dict) else {} for i in raw] if isinstance(raw, list) else []


def _group_names(raw: object) -> tuple[str, ...] | None:
    """The names a title reads, as ``group_by`` is written; None when it cannot tell."""
    if not isinstance(raw, list) or not raw or not all(isinstance(f, str) for f in raw):
        return None  # group_by has its own problem: naming every field unknown is noise
    return tuple(str(f).rsplit(".", 1)[-1] for f in raw)


def _titles(item: dict[str, object]) -> Iterator[tuple[str, str]]:
    """Each (locale, text) written under ``incident.title``; the domain checks the rest."""
    incident = item.get("incident")
    titles = incident.get("title") if isinstance(incident, dict) else None
    if not isinstance(titles, dict):
        return
    for locale, text in titles.items():
        if isinstance(locale, str) and isinstance(text, str) and text.strip():
            yield locale, text
