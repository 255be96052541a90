"""The one rule checker: ``rules check``, start-up and reload all load rules here.

Every problem is reported at once, as ``path:line:column: message``: YAML, schema,
duplicate ids across files, the templates each rule can reach, and the planned
maintenance files of ``rules/incidents/`` (``maintenance_files.py``). A set with any
error is never returned, so a broken file is never half-loaded. Whatever a file
holds, the checker returns problems and never raises: an exception in reading a
file, checking a rule or rendering a template becomes a problem at that file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Protocol

from notifier.config import RuleSettings
from notifier.domain.errors import NotifierError
from notifier.domain.maintenance import Maintenance
from notifier.domain.models import CHANNELS, ChannelName
from notifier.domain.ops_notices import OPS_PREFIX
from notifier.domain.problems import Problem, has_errors
from notifier.domain.quiet_hours import QuietHours
from notifier.domain.rules.fields import time_of_day
from notifier.domain.rules.model import Rule, RuleDefaults, RuleSet
from notifier.domain.rules.rule_file import parse_rule_file
from notifier.domain.rules.spelling import did_you_mean
from notifier.engine.rulefiles.crisis_check import (
    PlacedCrisis,
    crisis_in,
    duplicate_crisis_ids,
)
from notifier.engine.rulefiles.crisis_titles import locale_problems
from notifier.engine.rulefiles.entries import Placed, duplicate_ids, placed_in, read_file
from notifier.engine.rulefiles.loader import (
    YamlDocument,
    YamlPath,
    describe_failure,
    display_path,
    rule_files,
)
from notifier.engine.rulefiles.maintenance_files import TextMeasure, load_maintenance


class MessageCatalog(TextMeasure, Protocol):
    """What the checker needs from the templates renderer (``notifier.templates.Renderer``)."""

    def locales(self) -> list[str]: ...
    def messages(self) -> list[str]: ...
    def template_path(self, message: str, channel: ChannelName, locale: str) -> Path | None: ...
    def check_message(self, message: str, channel: ChannelName, locale: str) -> list[Problem]: ...


@dataclass(frozen=True, slots=True)
class RuleLoad:
    rules: RuleSet | None  # None when any problem is an error
    problems: tuple[Problem, ...]
    files: tuple[str, ...]
    # The planned maintenance windows of rules/incidents/, in force with the rules.
    maintenance: tuple[Maintenance, ...] = ()
    maintenance_files: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the rules loaded (warnings alone do not stop them)."""
        return self.rules is not None


_Placed = Placed[Rule]


def load_rules(
    rules_dir: Path,
    renderer: MessageCatalog | None = None,
    defaults: RuleDefaults | None = None,
) -> RuleLoad:
    """Return the rule set of ``rules_dir`` and every problem, checked against ``renderer``."""
    try:
        return _load_rules(rules_dir, renderer, defaults or RuleDefaults())
    except Exception as exc:  # a checker bug refuses the set; it never stops the caller
        failed = Problem(display_path(rules_dir), 1, 1, describe_failure("cannot check", exc))
        return RuleLoad(None, (failed,), ())


def _load_rules(
    rules_dir: Path, renderer: MessageCatalog | None, defaults: RuleDefaults
) -> RuleLoad:
    shown = display_path(rules_dir)
    if not rules_dir.is_dir():
        return RuleLoad(None, (Problem(shown, 1, 1, "rules directory not found"),), ())
    problems: list[Problem] = []
    placed: list[_Placed] = []
    crisis: list[PlacedCrisis] = []
    files = rule_files(rules_dir)
    rules_in = partial(_rules_in, defaults=defaults, crisis=crisis)
    for path in files:
        placed.extend(read_file(path, problems, rules_in))
    problems.extend(duplicate_ids(placed, "rule id"))
    windows = load_maintenance(rules_dir, renderer)
    problems.extend(windows.problems)
    problems.extend(duplicate_crisis_ids(crisis))
    if renderer is not None:
        problems.extend(_template_problems(placed, renderer))
        problems.extend(_ops_template_problems(renderer))
        problems.extend(locale_problems(crisis, renderer.locales()))
    ordered = tuple(sorted(set(problems), key=lambda p: (p.file, p.line, p.column, p.message)))
    names = tuple(display_path(p) for p in files)
    if has_errors(list(ordered)):
        return RuleLoad(None, ordered, names, maintenance_files=windows.files)
    rules = tuple(p.value for p in placed if p.value is not None)
    detecting = tuple(c.value for c in crisis if c.value is not None)
    return RuleLoad(
        RuleSet(rules, defaults, detecting), ordered, names, windows.windows, windows.files
    )


def _rules_in(
    doc: YamlDocument,
    shown: str,
    problems: list[Problem],
    defaults: RuleDefaults,
    crisis: list[PlacedCrisis],
) -> list[_Placed]:
    """The file's rules; its crisis rules go to ``crisis``.

    The valid rules of a broken file are still cross-checked; load_rules returns no set.
    """
    parsed = parse_rule_file(doc.data, defaults)
    crisis.extend(crisis_in(doc, shown, problems))
    return placed_in(doc, shown, "rules", parsed, problems)


def _reachable(rule: Rule) -> Iterator[tuple[str, tuple[ChannelName, ...], YamlPath]]:
    """Yield each message the rule can send, the channels it can go on, and where it is named."""
    notify = rule.notify
    channels = CHANNELS if notify.channel == "last_used" else (notify.channel, *notify.fallback)
    if notify.steps:
        for i, message in enumerate(notify.steps):
            yield message, channels, ("notify", "message", i)
    else:
        yield notify.message, channels, ("notify", "message")
    if notify.repeat is not None:
        for i, message in enumerate(notify.repeat.messages):
            yield message, channels, ("notify", "repeat", "messages", i)
    if rule.escalate is not None:
        # Escalations go to the ops address by email.
        yield rule.escalate.message, ("email",), ("escalate", "message")


def _template_problems(placed: list[_Placed], renderer: MessageCatalog) -> Iterator[Problem]:
    known = set(renderer.messages())
    locales = renderer.locales()
    checked: set[tuple[str, ChannelName, str]] = set()
    for p in placed:
        if p.value is None:
            continue
        for message, channels, path in _reachable(p.value):
            if message not in known:
                hint = did_you_mean(message, sorted(known))
                yield Problem(p.file, *p.at(*path), f"unknown message '{message}'{hint}: "
                              f"no templates/{message}/ folder")  # fmt: skip
                continue
            for channel in channels:
                missing = [
                    loc for loc in locales if renderer.template_path(message, channel, loc) is None
                ]
                if missing:
                    yield Problem(p.file, *p.at(*path), f"no {channel} template for message "
                                  f"'{message}' in {', '.join(missing)} (rule '{p.id}' "
                                  f"can send on {channel})")  # fmt: skip
                for locale in locales:
                    if locale in missing or (message, channel, locale) in checked:
                        continue
                    checked.add((message, channel, locale))
                    yield from _checked_message(renderer, message, channel, locale)


def _ops_template_problems(renderer: MessageCatalog) -> Iterator[Problem]:
    """Check the ops messages (folders ``ops_*``): ops get them by email, whatever the rules."""
    for message in renderer.messages():
        if not message.startswith(OPS_PREFIX):
            continue
        for locale in renderer.locales():
            path = renderer.template_path(message, "email", locale)
            if path is not None and path.name == f"email.{locale}.j2":
                yield from _checked_message(renderer, message, "email", locale)


def _checked_message(
    renderer: MessageCatalog, message: str, channel: ChannelName, locale: str
) -> list[Problem]:
    """The template's problems; an exception from checking it is one more, at its path."""
    try:
        found = renderer.check_message(message, channel, locale)
    except Exception as exc:  # a template that raises what the renderer does not catch
        # Only locales with a template get here, so the path is known.
        where = renderer.template_path(message, channel, locale) or Path(message)
        line = _line_in(exc.__traceback__, where)
        return [Problem(display_path(where), line, 1, describe_failure("cannot render", exc))]
    return [replace(p, file=display_path(Path(p.file))) for p in found]


def _line_in(tb: TracebackType | None, path: Path) -> int:
    # A compiled template's frames carry its file name, and the template itself in their
    # globals to map the generated code's line back to the template's: the last one is
    # where the template raised.
    line = 1
    while tb is not None:
        frame = tb.tb_frame
        if Path(frame.f_code.co_filename) == path:
            template = frame.f_globals.get("__jinja_template__")
            lineno = getattr(template, "get_corresponding_lineno", None)
            line = int(lineno(tb.tb_lineno)) if callable(lineno) else tb.tb_lineno
        tb = tb.tb_next
    return line


def defaults_from_settings(settings: RuleSettings) -> RuleDefaults:
    """Return the rule defaults the settings describe (equal start and end: no quiet hours)."""
    try:
        start = time_of_day(settings.quiet_hours_start)
        end = time_of_day(settings.quiet_hours_end)
    except ValueError as exc:
        raise NotifierError(f"NOTIFIER_QUIET_HOURS_START/END: {exc}") from None
    if settings.backfill <= timedelta(0):
        raise NotifierError("NOTIFIER_BACKFILL: must be greater than zero")
    quiet = QuietHours(start, end) if start != end else None
    return RuleDefaults(quiet_hours=quiet, backfill=settings.backfill)
