"""Incident commands: what `notifier incident ...` and the API (``/v1/incidents``) call.

Every text is checked before anything is written: a locale tag that is none, an empty
text (``texts.py``), a message whose SMS would take more than NOTIFIER_MAX_SMS_SEGMENTS
segments (the count is shown). The writes themselves are one transaction each
(``store/incidents.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NotRequired, TypedDict, Unpack

from notifier.clock import Clock
from notifier.domain.detection import Detection
from notifier.domain.durations import DurationError, parse_instant
from notifier.domain.incident_counts import Counts, is_settled
from notifier.domain.incident_match import match_spec
from notifier.domain.incidents import (
    OPENED,
    RESOLVED,
    UPDATE_STATUSES,
    UPDATED,
    UPDATES_ON,
    HistoryEntry,
    Incident,
    IncidentError,
    NewIncident,
    Severity,
    check_channels,
    parse_match,
    segment_of,
)
from notifier.domain.models import ChannelName, IncidentStatus, JSONValue
from notifier.domain.preflight import Preview
from notifier.engine.crisis.ports import IncidentStore
from notifier.engine.crisis.preflight import Reachability, preview
from notifier.engine.crisis.texts import TextError, Texts
from notifier.templates import Renderer
from notifier.templates.incident_sms import sms_overflows


@dataclass(frozen=True, slots=True)
class Shown:
    """An incident with its counts and history, for `incident show` and `list`."""

    incident: Incident
    counts: Counts
    history: list[HistoryEntry] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)  # what crisis rules found


@dataclass(frozen=True, slots=True)
class Progress:
    """An incident's counts as ``show --watch`` polls them, and whether it may stop."""

    incident: Incident
    counts: Counts
    settled: bool


class Opening(TypedDict):
    """The options of a new incident, as ``open`` and ``preview`` take them.

    One list for both, kept as keywords: the CLI, the API and the tests name each option.
    """

    titles: Texts
    messages: Texts
    severity: Severity
    match: Sequence[str] | Mapping[str, JSONValue]
    estimate: str | None
    by: str
    through_quiet_hours: NotRequired[bool | None]  # None or absent: only when critical
    updates_on: NotRequired[Sequence[str]]  # absent: UPDATES_ON


@dataclass
class Incidents:
    store: IncidentStore
    clock: Clock
    renderer: Renderer | None  # None: texts are not measured (no templates folder)
    default_locale: str = "es"
    max_sms_segments: int = 2
    reach: Reachability | None = None  # what a preview routes with; None: no preview
    # Wakes this process's scan and dispatcher after a change customers are to hear of (the
    # API in the daemon's process); other processes hear of it from the store's announce.
    on_change: Callable[[], None] = lambda: None

    async def open(self, **options: Unpack[Opening]) -> int:
        """Open an incident over the ``match`` segment (``--match`` items, or the API's
        {field: value or [values]}); its customers are told at once."""
        now = self.clock.now()
        found = await self.store.open_incident(self._new(options, now), now)
        self.on_change()
        return found

    async def preview(self, **options: Unpack[Opening]) -> Preview:
        """Return what ``open`` with the same options would do now, before anyone is told;
        checks them as ``open`` does and writes nothing."""
        if self.reach is None:
            raise IncidentError("a preview needs the channels' settings")
        now = self.clock.now()
        new = self._new(options, now, titled=False)
        return await preview(self.store, new, self.reach, self.renderer, now)

    def _new(self, options: Opening, now: datetime, *, titled: bool = True) -> NewIncident:
        """Return the incident the options describe; raises IncidentError naming one.

        A preview may go without a title (``titled=False``): its samples then read none.
        """
        channels = _channels(options.get("updates_on", UPDATES_ON))
        title_texts = options["titles"].parsed(self.default_locale)
        if titled and not title_texts:
            raise TextError("--title", "an incident needs a title")
        match = options["match"]
        spec = match_spec(match, now) if isinstance(match, Mapping) else parse_match(match, now)
        if not spec:
            raise IncidentError(
                "give at least one --match: an incident needs a segment", "--match",
                reason="give at least one field: an incident needs a segment",
            )  # fmt: skip
        segment_of(spec)
        messages = options["messages"]
        texts = messages.parsed(self.default_locale)
        estimate_at = self._estimate(options["estimate"], now)
        self._measure(OPENED, title_texts, texts, estimate_at, messages)
        severity = options["severity"]
        through = options.get("through_quiet_hours")
        if through is None:
            through = severity is Severity.CRITICAL
        return NewIncident(title_texts, severity, spec, texts, estimate_at, options["by"],
                           through, channels, self.default_locale)  # fmt: skip

    async def update(
        self,
        incident_id: int,
        *,
        messages: Texts,
        status: str | None,
        estimate: str | None,
        by: str,
    ) -> int:
        """Publish an update (latest-wins); return its step number."""
        now = self.clock.now()
        texts = messages.parsed(self.default_locale)
        new_status = None
        if status is not None:
            if status not in UPDATE_STATUSES:
                raise TextError("--status", f"use one of {', '.join(UPDATE_STATUSES)}")
            new_status = IncidentStatus(status)
        estimate_at = self._estimate(estimate, now)
        if not texts and new_status is None and estimate is None:
            raise IncidentError(
                "nothing to update: give --message, --status or --estimate",
                reason="nothing to update: give a message, a status or an estimate",
            )
        incident = await self.store.incident(incident_id)
        self._measure(UPDATED, incident.titles, texts, estimate_at, messages)
        step = await self.store.publish_step(
            incident_id, resolve=False, status=new_status, messages=texts,
            estimate_at=estimate_at, keep_estimate=estimate is None, by=by, now=now,
            default_locale=self.default_locale,
        )  # fmt: skip
        self.on_change()
        return step

    async def resolve(self, incident_id: int, *, messages: Texts, by: str) -> int:
        """Publish the resolution: everyone who was told gets it."""
        now = self.clock.now()
        texts = messages.parsed(self.default_locale)
        incident = await self.store.incident(incident_id)
        self._measure(RESOLVED, incident.titles, texts, None, messages)
        step = await self.store.publish_step(
            incident_id, resolve=True, status=None, messages=texts, estimate_at=None,
            keep_estimate=True, by=by, now=now, default_locale=self.default_locale,
        )  # fmt: skip
        self.on_change()
        return step

    async def pause(self, incident_id: int, by: str) -> None:
        await self.store.pause_incident(incident_id, True, by, self.clock.now())

    async def resume(self, incident_id: int, by: str) -> None:
        await self.store.pause_incident(incident_id, False, by, self.clock.now())
        self.on_change()

    async def confirm(self, incident_id: int, by: str) -> None:
        await self.store.confirm_incident(incident_id, by, self.clock.now())
        self.on_change()

    async def dismiss(self, incident_id: int, by: str) -> None:
        await self.store.dismiss_incident(incident_id, by, self.clock.now())

    async def show(self, incident_id: int) -> Shown:
        incident = await self.store.incident(incident_id)
        counts = await self.store.incident_counts(incident_id, self.clock.now())
        history = await self.store.incident_history(incident_id)
        return Shown(incident, counts, history, await self.store.incident_detections(incident_id))

    async def progress(self, incident_id: int) -> Progress:
        """The incident, its counts and whether its fan-out settled (``show --watch``)."""
        now = self.clock.now()
        incident = await self.store.incident(incident_id)
        counts = await self.store.incident_counts(incident_id, now)
        return Progress(incident, counts, is_settled(incident, counts))

    async def list(self) -> list[Shown]:
        """Every incident, those waiting for a person's confirmation first, then newest."""
        now = self.clock.now()
        found = await self.store.list_incidents()
        found.sort(key=lambda i: (not (i.awaiting_confirmation and i.is_open), -i.id))
        return [Shown(i, await self.store.incident_counts(i.id, now)) for i in found]

    def _estimate(self, text: str | None, now: datetime) -> datetime | None:
        if text is None:
            return None
        try:
            at = parse_instant(text, now)
        except DurationError as exc:
            raise TextError("--estimate", str(exc)) from None
        if at < now:
            raise TextError("--estimate", f"{at.isoformat()} has passed: give a time to come")
        return at

    def _measure(
        self,
        message: str,
        titles: Mapping[str, str],
        texts: Mapping[str, str],
        estimate_at: datetime | None,
        source: Texts,
    ) -> None:
        """Refuse a text whose SMS takes more segments than allowed, showing the count."""
        if self.renderer is None:
            return
        found = sms_overflows(
            self.renderer, message, titles, texts, estimate_at, self.clock.now(),
            default_locale=self.default_locale, max_segments=self.max_sms_segments,
        )  # fmt: skip
        if found:  # the first locale in order: one refusal, as for any other option
            option, key = source.where(found[0].locale, self.default_locale)
            raise TextError(option, found[0].describe(message, self.max_sms_segments), key)


def _channels(names: Sequence[str]) -> tuple[ChannelName, ...]:
    try:
        return check_channels(names)
    except IncidentError as exc:
        raise IncidentError(str(exc), "--updates-on") from None
