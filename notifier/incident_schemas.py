"""The incidents API's bodies (``/v1/incidents``): shapes only.

What the texts, the segment, the estimate and the channels may be is checked once, by the
incident commands the CLI runs too (``engine/crisis/commands.py``): the same refusals, in
the same words, whichever way an incident comes in. Unknown keys are refused, as in every
ingest body.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, JsonValue

from notifier.domain.incidents import UPDATES_ON, Severity
from notifier.schemas import Strict

# A text per locale; each text is measured (its SMS rendered) before anything is written.
MAX_LOCALES = 50
Locales = Annotated[dict[str, str], Field(max_length=MAX_LOCALES)]
By = Annotated[str, Field(min_length=1, max_length=128)]


class IncidentIn(Strict):
    """POST /v1/incidents: open an incident; its customers are told at once."""

    title: str
    titles: Locales = Field(default_factory=dict)
    severity: Severity = Severity.MAJOR
    match: dict[str, JsonValue]  # {field: value or [values]}; due_at: {before|after: TIME}
    message: str | None = None
    messages: Locales = Field(default_factory=dict)
    estimate: str | None = None  # ISO 8601 with an offset, or now+2h
    by: By = "api"
    updates_on: list[str] = Field(
        default_factory=lambda: [str(c) for c in UPDATES_ON], max_length=10
    )
    through_quiet_hours: bool | None = None  # None: only when critical


class IncidentUpdateIn(Strict):
    """POST /v1/incidents/{id}/updates: publish an update (latest-wins)."""

    message: str | None = None
    messages: Locales = Field(default_factory=dict)
    status: str | None = None
    estimate: str | None = None
    by: By = "api"


class IncidentResolveIn(Strict):
    """POST /v1/incidents/{id}/resolve: everyone who was told gets the resolution."""

    message: str | None = None
    messages: Locales = Field(default_factory=dict)
    by: By = "api"


class IncidentActionIn(Strict):
    """The optional body of confirm, dismiss, pause and resume."""

    by: By = "api"
