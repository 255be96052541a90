"""The rule language: frozen rules, matching, stages and the pure evaluation."""

from __future__ import annotations

from notifier.domain.rules.evaluate import due_notices, next_check_at
from notifier.domain.rules.model import Rule, RuleDefaults, RuleSet

__all__ = ["Rule", "RuleDefaults", "RuleSet", "due_notices", "next_check_at"]
