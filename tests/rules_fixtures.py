"""Builders for the rule tests: promises, customers and rule sets from YAML text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from notifier.domain.models import Customer, CustomerId, Promise, PromiseId, PromiseStatus
from notifier.domain.notices import SentLedger
from notifier.domain.rules import due_notices
from notifier.domain.rules.model import RuleDefaults, RuleSet
from notifier.domain.rules.rule_file import parse_rule_file
from notifier.engine.rulefiles.check import load_rules
from notifier.engine.rulefiles.loader import read_yaml

DUE = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday, 12:00 in Buenos Aires


def promise(
    *,
    kind: str = "delivery",
    status: PromiseStatus = PromiseStatus.OPEN,
    due_at: datetime = DUE,
    window_start: datetime | None = None,
    changed_at: datetime | None = None,
    version: int = 1,
    times_broken: int = 0,
    attributes: dict[str, object] | None = None,
    id: int = 7,
) -> Promise:
    """Return a promise made two days before ``due_at``."""
    made = due_at - timedelta(days=2)
    return Promise(
        id=PromiseId(id),
        customer_id=CustomerId("c-1"),
        kind=kind,
        status=status,
        due_at=due_at,
        external_ref=f"ext-{id}",
        created_at=made,
        updated_at=changed_at or made,
        status_changed_at=changed_at or made,
        window_start=window_start,
        attributes=attributes or {},  # type: ignore[arg-type]  # test data is JSON
        deadline_version=version,
        times_broken=times_broken,
    )


def customer(
    *, timezone: str = "America/Argentina/Buenos_Aires", locale: str = "es-AR", **kw: object
) -> Customer:
    """Return a customer in ``timezone``."""
    return Customer(CustomerId("c-1"), locale, timezone, **kw)  # type: ignore[arg-type]


def ruleset(text: str, defaults: RuleDefaults | None = None) -> RuleSet:
    """Return the rules of a YAML snippet; fails the test on any problem in it."""
    defaults = defaults or RuleDefaults(quiet_hours=None)
    doc, problems = read_yaml(text.encode(), "test.yaml")
    assert doc is not None, problems
    rules, errors = parse_rule_file(doc.data, defaults)
    assert not errors, errors
    return RuleSet(tuple(r for _, r in rules), defaults)


def matching(match: str) -> RuleSet:
    """Return a one-rule set whose ``match`` is the YAML ``match`` (one line, or nested)."""
    return ruleset(f"""
rules:
  - id: r
    match:
      {match}
    when: {{overdue: 1h}}
    notify: {{message: m}}
""")


SHIPPED_RULES = Path(__file__).parents[1] / "rules"


@cache
def shipped_rules() -> RuleSet:
    """The rules in ``rules/``, as the daemon loads them (once per test process)."""
    load = load_rules(SHIPPED_RULES)
    assert load.rules is not None, load.problems
    return load.rules


def fired(p: Promise, rules: RuleSet, now: datetime, *sent: str) -> list[tuple[str, str]]:
    """The (rule, message) of each notice ``rules`` give ``p`` at ``now``; ``sent``: keys told."""
    found = due_notices(p, customer(), rules, SentLedger(frozenset(sent)), now)
    return [(n.rule_id, n.message) for n in found]
