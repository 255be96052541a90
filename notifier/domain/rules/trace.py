"""What the evaluation made of each rule for one promise: the values an explain prints.

The scan passes no recorder, and then none of these is built. Given one, ``evaluate``
hands it a ``RuleTrace`` for every rule of the set: whether the rule matched (with the
values each condition saw), each stage and step it looked at and why it was due or not,
and the notices that came of it. Every value here turns into JSON with ``to_json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from notifier.domain.models import JSONValue, PromiseId
from notifier.domain.notices import Notice, Stage
from notifier.domain.rules.match import MatchTrace

# Why a step of a matched rule's timeline was or was not due at the evaluation's instant.
StepStatus = Literal[
    "due",
    "dropped_in_quiet_hours",  # it fell in quiet hours with ``action: drop``
    "already_sent",  # its dedupe key is in the ledger
    "not_yet_due",
    "past_backfill",  # its moment is older than the rule's backfill: too late to speak
    "superseded",  # a later step (or a late stage of another rule) speaks instead
]
# Why a step does not apply to the promise's current state at all.
Skip = Literal[
    "not_open",  # an at-risk stage for a promise no longer open
    "past_deadline",  # an at-risk step whose moment is not before the deadline
    "settled",  # a late stage for a promise kept or cancelled
    "other_status",  # an ``on:`` event the promise's status is not
    "never_rescheduled",  # ``on: rescheduled`` for a promise still on its first deadline
]
# Why a rule with ``escalate`` has not escalated.
EscalationWait = Literal["settled", "not_reached"]
# What came of a rule, in one word: a step status or a skip when it has no notice.
Verdict = (
    Literal["not_matched", "not_told", "notified", "no_stage", "max_repeats_reached"]
    | StepStatus
    | Skip
)


@dataclass(frozen=True, slots=True)
class StepTrace:
    """One step of a matched rule's timeline (the escalation too) and its status."""

    stage: Stage
    step: int
    dedupe_key: str
    moment: datetime  # when the stage's condition became true
    at: datetime  # when quiet hours let it out
    status: StepStatus
    superseded_by: str | None = None  # the dedupe key of the step that speaks instead

    def to_json(self) -> dict[str, JSONValue]:
        """Return the step as JSON values, times in ISO 8601."""
        return {
            "stage": self.stage, "step": self.step, "dedupe_key": self.dedupe_key,
            "moment": self.moment.isoformat(), "at": self.at.isoformat(),
            "status": self.status, "superseded_by": self.superseded_by,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class SkippedStep:
    """A step of a matched rule that does not apply to the promise as it stands."""

    stage: Stage
    step: int
    dedupe_key: str
    why: Skip

    def to_json(self) -> dict[str, JSONValue]:
        """Return the step as JSON values."""
        return {"stage": self.stage, "step": self.step, "dedupe_key": self.dedupe_key,
                "why": self.why}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One rule for one promise at one instant: its match, its steps, its notices."""

    promise_id: PromiseId
    now: datetime  # the instant of the evaluation
    match: MatchTrace
    steps: tuple[StepTrace, ...] = ()  # in timeline order, the escalation last
    skipped: tuple[SkippedStep, ...] = ()
    notices: tuple[Notice, ...] = ()
    repeats: int = 0  # the rule's ``repeat.max``: its last step
    escalation: EscalationWait | None = None  # None: no ``escalate``, or it is in ``steps``
    notices_counted: int = 0  # notices of this deadline sent or due now (``escalate.after``)
    told: bool = True  # False: it matched, but ``when.told`` names nothing that went out

    @property
    def verdict(self) -> Verdict:
        """Return, in one word, what came of the rule: its notice, or why there is none.

        Without a notice, the verdict is the status of the rule's latest customer step
        whose time has come (the one that would speak now), ``not_yet_due`` when none
        has, or why no step applies at all.
        """
        if not self.match.matched:
            return "not_matched"
        if not self.told:  # a step that does not apply says more than "not told"
            return self.skipped[0].why if self.skipped else "not_told"
        if self.notices:
            return "notified"
        steps = [s for s in self.steps if s.stage != "escalated"]
        if not steps:
            return self.skipped[0].why if self.skipped else "no_stage"
        come = [s for s in steps if s.at <= self.now]
        if not come:
            return "not_yet_due"
        last = come[-1]
        if last.status == "already_sent" and self.repeats and last.step == self.repeats:
            return "max_repeats_reached"
        return last.status

    def to_json(self) -> dict[str, JSONValue]:
        """Return the trace as JSON values, times in ISO 8601."""
        return {
            "promise_id": self.promise_id,
            "now": self.now.isoformat(),
            "rule": self.match.rule_id,
            "verdict": self.verdict,
            "match": self.match.to_json(),
            "steps": [s.to_json() for s in self.steps],
            "skipped": [s.to_json() for s in self.skipped],
            "notices": [notice_json(n) for n in self.notices],
            "escalation": self.escalation,
            "notices_counted": self.notices_counted,
        }


class Recorder(Protocol):
    """Receives, for each rule of the set, what the evaluation of one promise made of it."""

    def __call__(self, trace: RuleTrace, /) -> None: ...


def notice_json(notice: Notice) -> dict[str, JSONValue]:
    """Return what a notice says and to whom, as JSON values."""
    return {
        "dedupe_key": notice.dedupe_key, "stage": notice.stage, "step": notice.step,
        "message": notice.message, "audience": notice.audience, "channel": notice.channel,
        "fallback": list(notice.fallback), "priority": notice.priority,
        "not_before": notice.not_before.isoformat(), "reason": notice.reason,
    }  # fmt: skip
