"""Whether the customer was told something about a promise: ``when.told`` reads it.

A thank-you for the patience is only right after an apology or a warning. The promise's
``SentLedger`` holds the dedupe key of every notice already scheduled for it, in every
deadline version; each key names its rule and step, and the rule names the stage.
"""

from __future__ import annotations

from notifier.domain.models import Promise
from notifier.domain.notices import SentLedger, Stage
from notifier.domain.rules.model import ESCALATION_STEP, Rule, RuleSet


def was_told(rule: Rule, promise: Promise, rules: RuleSet, sent: SentLedger) -> bool:
    """True when ``rule`` has no ``told`` condition, or a notice it names went out.

    Only customer notices that went out (or are being sent) count: a late apology still
    waiting when the parcel arrived is cancelled as moot, and told nobody anything. Nor
    does an escalation to ops, or a notice of a rule since removed (its stage is unknown).
    """
    wanted = rule.when.told
    if not wanted:
        return True
    return any(sent.told(key) and told_stage(key, promise, rules) in wanted for key in sent.keys)


def told_stage(key: str, promise: Promise, rules: RuleSet) -> Stage | None:
    """Return the stage the customer notice ``key`` spoke of, or None if it was none."""
    parts = key.rsplit(":", 3)
    if len(parts) != 4 or parts[1] != str(promise.id) or not parts[3].isdigit():
        return None
    if int(parts[3]) == ESCALATION_STEP:
        return None
    found = rules.by_id(parts[0])
    if found is None:
        return None
    when = found.when
    if when.trigger == "before_due":
        return "at_risk"
    if when.trigger == "overdue":
        return "late"
    return when.event
