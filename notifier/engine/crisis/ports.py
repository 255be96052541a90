"""What the crisis stage asks of the store (the concrete Store satisfies it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from notifier.domain.crisis_replies import PendingReplies
from notifier.domain.detection import CrisisRule, Detection, Example, Fired, GroupCount, Numbers
from notifier.domain.fanout import Joined
from notifier.domain.incident_counts import Counts
from notifier.domain.incidents import HistoryEntry, Incident, NewIncident, Segment
from notifier.domain.maintenance import Opened
from notifier.domain.models import Customer, IncidentStatus, Promise
from notifier.domain.notices import StandaloneNotice
from notifier.domain.outbox import Scheduled
from notifier.domain.quiet_hours import QuietHours


class TitleRenderer(Protocol):
    """A crisis title rendered for a group (``templates.title_templates.TitleTemplates``)."""

    def render(self, source: str, group: Mapping[str, str]) -> str: ...


class IncidentPlanStore(Protocol):
    """The planner: incidents due a look, who they touch, one row per step each."""

    async def incidents_to_plan(self, now: datetime) -> list[Incident]: ...

    async def newest_promise_id(self) -> int: ...

    def join_affected(
        self, incident: Incident, quiet: QuietHours | None, now: datetime, after_id: int = 0
    ) -> AsyncIterator[Joined]: ...

    async def plan_step(
        self, incident: Incident, quiet: QuietHours | None, now: datetime, next_at: datetime | None
    ) -> int: ...


class AffectedReader(Protocol):
    """The affected set as the planner joins it, streamed in batches (the pre-flight)."""

    def preview_affected(
        self, segment: Segment
    ) -> AsyncIterator[list[tuple[Promise, Customer]]]: ...


class IncidentWriter(Protocol):
    """Opening an incident and publishing its steps: ops' commands and the maintenance job."""

    async def open_incident(self, new: NewIncident, now: datetime) -> int: ...

    async def publish_step(
        self,
        incident_id: int,
        *,
        resolve: bool,
        status: IncidentStatus | None,
        messages: Mapping[str, str],
        estimate_at: datetime | None,
        keep_estimate: bool,
        by: str,
        now: datetime,
        default_locale: str,
    ) -> int: ...


class IncidentStore(AffectedReader, IncidentWriter, Protocol):
    """The commands and reads of `notifier incident ...` (and, later, the API)."""

    async def pause_incident(
        self, incident_id: int, paused: bool, by: str, now: datetime
    ) -> None: ...

    async def confirm_incident(self, incident_id: int, by: str, now: datetime) -> None: ...

    async def dismiss_incident(self, incident_id: int, by: str, now: datetime) -> None: ...

    async def incident(self, incident_id: int) -> Incident: ...

    async def list_incidents(self, *, open_only: bool = False) -> list[Incident]: ...

    async def incident_history(self, incident_id: int) -> list[HistoryEntry]: ...

    async def incident_counts(self, incident_id: int, now: datetime) -> Counts: ...

    async def incident_detections(self, incident_id: int) -> list[Detection]: ...


class MaintenanceStore(IncidentWriter, Protocol):
    """Planned maintenance: the incidents the windows opened; opening and resolving them."""

    async def maintenance_incidents(self, sources: Sequence[str]) -> list[Opened]: ...


class ReplyDigestStore(Protocol):
    """The digest job: incidents with new replies, those replies, the digest's write."""

    async def incidents_with_new_replies(self) -> list[int]: ...

    async def new_replies(self, incident_id: int, listed: int) -> PendingReplies | None: ...

    async def write_digest(
        self, pending: PendingReplies, notice: StandaloneNotice, now: datetime
    ) -> bool: ...


class DetectionStore(Protocol):
    """Crisis detection: counts per group, the state per group, firing once, telling ops."""

    async def crisis_counts(self, rule: CrisisRule, now: datetime) -> list[GroupCount]: ...

    async def crisis_history(
        self, rule: CrisisRule, now: datetime
    ) -> dict[tuple[str, ...], int]: ...

    async def crisis_examples(
        self, rule: CrisisRule, values: Sequence[str], now: datetime
    ) -> list[Example]: ...

    async def step_detections(
        self, rule: CrisisRule, held: Mapping[tuple[str, ...], Numbers], now: datetime
    ) -> list[tuple[str, ...]]: ...

    async def fire_detection(
        self,
        rule: CrisisRule,
        values: Sequence[str],
        examples: Sequence[Example],
        new: NewIncident,
        now: datetime,
    ) -> Fired | None: ...

    async def detections_untold(self) -> list[Detection]: ...

    async def mark_told(self, ids: Sequence[int]) -> None: ...

    async def incidents_by_id(self, ids: Sequence[int]) -> dict[int, Incident]: ...

    async def enqueue(self, scheduled: Sequence[Scheduled], now: datetime) -> int: ...
