"""Incident commands: what `notifier incident ...` and the API (``/v1/incidents``) call.

Every text is checked before anything is written: a locale tag that is none, an empty
text, a message whose SMS would take more than NOTIFIER_MAX_SMS_SEGMENTS segments (the
count is shown). The writes themselves are one transaction each (``store/incidents.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from notifier.clock import Clock
from notifier.domain.crisis import incident_variable
from notifier.domain.detection import Detection
from notifier.domain.durations import DurationError, parse_instant
from notifier.domain.incident_counts import Counts
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
    Segment,
    Severity,
    Step,
    check_channels,
    parse_match,
    segment_of,
)
from notifier.domain.models import ChannelName, IncidentStatus, JSONValue
from notifier.engine.crisis.ports import IncidentStore
from notifier.templates import Renderer
from notifier.templates.render import TemplateError
from notifier.templates.samples import SAMPLES

_TAG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
MAX_TEXT = 1000  # characters of one ops text: a headline or an update, not an essay
SAMPLE = "delivery"  # the sample a text's SMS is measured with: long name, reference, link


class TextError(IncidentError):
    """An ops text refused (which option, and why): a usage error on the command line."""

    def __init__(self, option: str, message: str, key: str | None = None) -> None:
        super().__init__(f"{option}: {message}", option.split(" ")[0], key=key, reason=message)


@dataclass(frozen=True, slots=True)
class Texts:
    """One text in the default locale and others per locale, as the options gave them
    (``per_locale``) or as JSON did (``locales``: a ``=`` in a locale is no separator)."""

    default: str | None = None
    per_locale: Sequence[str] = ()  # "LOCALE=TEXT"
    option: str = "--message"
    locales: Mapping[str, str] = field(default_factory=dict)  # {LOCALE: TEXT}

    def parsed(self, default_locale: str) -> dict[str, str]:
        """Return {locale: text}; raises TextError naming the option at fault."""
        out: dict[str, str] = {}
        if self.default is not None:
            out[default_locale] = _text(self.option, self.default)
        for item in self.per_locale:
            locale, sep, text = item.partition("=")
            option = f"{self.option}-locale {item[:30]!r}"
            tag = locale.strip().replace("_", "-").lower()
            if not sep or not _TAG.fullmatch(tag):
                raise TextError(option, "use LOCALE=TEXT, e.g. en='Carrier strike'", locale)
            out[_canonical(tag)] = _text(option, text, locale)
        for locale, text in self.locales.items():
            option = f"{self.option}-locale {locale[:30]!r}"
            if not _TAG.fullmatch(locale.strip().replace("_", "-").lower()):
                raise TextError(option, "not a locale: use a tag such as en, es-AR, pt-BR", locale)
            out[_locale(locale)] = _text(option, text, locale)
        return out

    def where(self, locale: str, default_locale: str) -> tuple[str, str | None]:
        """Return the option (and the key within it) that gave the text of ``locale``."""
        given = next((k for k in self.locales if _locale(k) == locale), None)
        if given is None and locale == default_locale:
            return self.option, None
        return f"{self.option}-locale {locale}", given or locale  # a locale's text wins


def _locale(key: str) -> str:
    return _canonical(key.strip().replace("_", "-").lower())


def _canonical(tag: str) -> str:
    language, *rest = tag.split("-")
    return "-".join([language.lower(), *(r.upper() if len(r) == 2 else r for r in rest)])


def _text(option: str, text: str, key: str | None = None) -> str:
    found = " ".join(text.split())
    if not found:
        raise TextError(option, "empty text", key)
    if len(found) > MAX_TEXT:
        raise TextError(option, f"{len(found)} characters; at most {MAX_TEXT}", key)
    return found


@dataclass(frozen=True, slots=True)
class Shown:
    """An incident with its counts and history, for `incident show` and `list`."""

    incident: Incident
    counts: Counts
    history: list[HistoryEntry] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)  # what crisis rules found


@dataclass
class Incidents:
    store: IncidentStore
    clock: Clock
    renderer: Renderer | None  # None: texts are not measured (no templates folder)
    default_locale: str = "es"
    max_sms_segments: int = 2
    # Wakes this process's scan and dispatcher after a change customers are to hear of (the
    # API in the daemon's process); other processes hear of it from the store's announce.
    on_change: Callable[[], None] = lambda: None

    async def open(
        self,
        *,
        titles: Texts,
        messages: Texts,
        severity: Severity,
        match: Sequence[str] | Mapping[str, JSONValue],
        estimate: str | None,
        by: str,
        through_quiet_hours: bool | None = None,
        updates_on: Sequence[str] = UPDATES_ON,
    ) -> int:
        """Open an incident over the ``match`` segment (``--match`` items, or the API's
        {field: value or [values]}); its customers are told at once."""
        now = self.clock.now()
        channels = _channels(updates_on)
        title_texts = titles.parsed(self.default_locale)
        if not title_texts:
            raise TextError("--title", "an incident needs a title")
        spec = match_spec(match, now) if isinstance(match, Mapping) else parse_match(match, now)
        if not spec:
            raise IncidentError(
                "give at least one --match: an incident needs a segment", "--match",
                reason="give at least one field: an incident needs a segment",
            )  # fmt: skip
        segment_of(spec)
        texts = messages.parsed(self.default_locale)
        estimate_at = self._estimate(estimate, now)
        self._measure(OPENED, title_texts, texts, estimate_at, messages)
        through = (
            severity is Severity.CRITICAL if through_quiet_hours is None else through_quiet_hours
        )
        new = NewIncident(title_texts, severity, spec, texts, estimate_at, by, through,
                          channels, self.default_locale)  # fmt: skip
        found = await self.store.open_incident(new, now)
        self.on_change()
        return found

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
        now = self.clock.now()
        step = Step(0, "opened", IncidentStatus.INVESTIGATING, dict(texts), estimate_at, now)
        variable = incident_variable(_sample(titles, now), step, True)
        for locale in sorted({*titles, *texts} or {self.default_locale}):
            context = dict(SAMPLES[SAMPLE])
            context["incident"] = variable
            customer = context.get("customer")
            if isinstance(customer, Mapping):  # the text's own locale reads it
                context["customer"] = {**customer, "locale": locale}
            try:
                rendered = self.renderer.render(message, "sms", locale, context)
            except TemplateError:  # no SMS template for it: nothing to measure
                continue
            if rendered.sms is not None and rendered.sms.segments > self.max_sms_segments:
                option, key = source.where(locale, self.default_locale)
                raise TextError(
                    option,
                    f"the {message} SMS in {locale} takes {rendered.sms.segments} segments "
                    f"(NOTIFIER_MAX_SMS_SEGMENTS is {self.max_sms_segments}): shorten it",
                    key,
                )


def _channels(names: Sequence[str]) -> tuple[ChannelName, ...]:
    try:
        return check_channels(names)
    except IncidentError as exc:
        raise IncidentError(str(exc), "--updates-on") from None


def _sample(titles: Mapping[str, str], now: datetime) -> Incident:
    return Incident(
        id=1, titles=dict(titles), severity=Severity.MAJOR, segment=Segment({}, ()),
        status=IncidentStatus.INVESTIGATING, opened_at=now, opened_by="", steps=(),
    )  # fmt: skip
