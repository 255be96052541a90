"""``notifier status`` from typed values: the JSON keys, the verdict, and the reporting service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.cli.status_report import health_view, retention_line, rules_lines, status_view
from notifier.domain.crm_events import EventBacklog
from notifier.domain.health import Backlog
from notifier.domain.models import NotificationStatus
from notifier.domain.published import (
    Published,
    PublishedState,
    PurgeFigures,
    RetentionState,
    RulesState,
    ScanFigures,
    ScanState,
)
from notifier.domain.reports import (
    ErrorLine,
    NotificationDetail,
    NotificationRecord,
    Pause,
    PlanErrorLine,
    QueueStats,
    RenderErrorLine,
    StatusReport,
)
from notifier.domain.verdict import judge
from notifier.engine.reporting.service import Reporting
from tests.conftest import FakeClock

T0 = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)
PAUSES = [
    Pause(1, "channel", "whatsapp", "paused by ops", T0, None),
    Pause(2, "down", "x", "401 from X", T0, T0 + timedelta(minutes=5)),
]


def _report(published: PublishedState, now: datetime = T0) -> StatusReport:
    return StatusReport(
        now, QueueStats({"pending": 2, "sent": 1}, T0 - timedelta(minutes=2)), Backlog(),
        published, PAUSES,
        [ErrorLine(7, 3, T0, "failed_channel", "sms", "permanent", {"code": "21211"})],
        1, [PlanErrorLine(4, "bea", "delivery", "late", "boom", T0, 1, T0)],
        [RenderErrorLine(T0, 5, "bea", "refund_late", "sms", "render_error: x")],
    )  # fmt: skip


def test_the_status_json_keeps_the_keys_and_shapes_of_the_rows() -> None:
    scan = Published(ScanState(ScanFigures(promises=2)), T0)
    view = status_view(_report(PublishedState(scan, None)))
    assert list(view) == [
        "now", "pending", "counts", "oldest_pending", "oldest_pending_age_s", "sending", "scan",
        "rules", "retention", "paused", "down", "last_errors", "plan_error_count",
        "plan_errors", "render_errors", "events",
    ]  # fmt: skip
    assert (view["pending"], view["oldest_pending_age_s"]) == (2, 120.0)
    assert view["scan"] == {"promises": 2, "at": T0} and view["rules"] is None
    assert view["retention"] is None
    assert view["paused"] == [
        {"id": 1, "kind": "channel", "target": "whatsapp", "reason": "paused by ops",
         "created_at": T0, "until": None}
    ]  # fmt: skip
    assert [p["target"] for p in view["down"]] == ["x"]
    assert list(view["last_errors"][0]) == [
        "id", "notification_id", "at", "type", "channel", "reason", "detail"
    ]  # fmt: skip
    assert list(view["plan_errors"][0]) == [
        "id", "customer_id", "kind", "rule", "reason", "since", "failures", "next_check_at"
    ]  # fmt: skip
    assert list(view["render_errors"][0]) == [
        "at", "notification_id", "customer_id", "message", "channel", "reason"
    ]  # fmt: skip


def test_an_older_daemons_scan_counts_from_when_it_was_published() -> None:
    scan = Published(ScanState(ScanFigures(promises=2)), T0)
    verdict = judge(_report(PublishedState(scan, None), T0 + timedelta(seconds=10)),
                    timedelta(seconds=30))  # fmt: skip
    assert (verdict.last_scan, verdict.last_scan_age) == (T0, timedelta(seconds=10))
    health = health_view(verdict)
    assert list(health) == [
        "status", "exit_code", "findings", "scan_interval_s", "last_scan", "last_scan_age_s"
    ]  # fmt: skip
    assert (health["scan_interval_s"], health["last_scan_age_s"]) == (30.0, 10.0)
    assert health["status"] == "stuck" and health["exit_code"] == 4  # a plan error is listed
    assert health["findings"] == [
        {"code": 4, "text": "1 promise in plan error: the rules cannot plan them"}
    ]


def test_rules_lines_name_the_count_or_the_refused_files() -> None:
    ok = Published(RulesState(ok=True, rules=7), T0)
    refused = Published(RulesState(ok=False, problems=("x.yaml:1:2: bad",)), T0)
    assert rules_lines(ok, T0)[0] == "rules: 7 rules in force, loaded 0s ago"
    assert rules_lines(refused, T0)[1:] == ["  x.yaml:1:2: bad"]
    assert rules_lines(None, T0) == ["rules: never published (is notifier run up?)"]


def test_the_retention_line_says_when_the_purge_ran_and_what_it_removed() -> None:
    figures = PurgeFigures(promises=3, notifications=5, scrubbed=2, notification_events=9,
                           promise_events=4, interactions=1, batches=6, complete=False)  # fmt: skip
    state = RetentionState(timedelta(days=90), T0 - timedelta(days=90), figures, 0.25)
    assert RetentionState.from_view(state.view()) == state
    line = retention_line(Published(state, T0 - timedelta(minutes=2)), T0)
    assert line == (
        "last purge: 2m ago, older than 90d: 3 promises, 5 notifications deleted; 2 emptied; "
        "13 history events; 1 touchpoint texts (more left: the next runs go on)"
    )
    off = Published(RetentionState(), T0)
    assert RetentionState.from_view(off.value.view()) == off.value
    assert retention_line(off, T0) == "last purge: none, NOTIFIER_RETENTION=off (checked 0s ago)"
    assert retention_line(None, T0) == "last purge: never published (is notifier run up?)"
    view = status_view(_report(PublishedState(retention=Published(state, T0))))
    assert view["retention"]["promises"] == 3 and view["retention"]["complete"] is False


class _Store:
    """The reporting ports over lists: pauses by (kind, target)."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], Pause] = {}

    async def pause(
        self, kind: str, target: str, reason: str, now: datetime, until: datetime | None = None
    ) -> None:
        self.held[kind, target] = Pause(len(self.held) + 1, kind, target, reason, now, until)

    async def resume(self, kind: str, target: str | None, now: datetime) -> int:
        lifted = [k for k in self.held if k[0] == kind and target in (None, k[1])]
        for k in lifted:
            del self.held[k]
        return len(lifted)

    async def pauses(self, now: datetime) -> list[Pause]:
        return list(self.held.values())

    async def queue_stats(self) -> QueueStats:
        return QueueStats({}, None)

    async def sending_backlog(self, now: datetime) -> Backlog:
        return Backlog()

    async def published(self) -> PublishedState:
        return PublishedState()

    async def last_errors(self, limit: int = 5) -> list[ErrorLine]:
        return []

    async def plan_errors(self, limit: int = 20) -> tuple[int, list[PlanErrorLine]]:
        return 0, []

    async def render_errors(self, limit: int = 5) -> list[RenderErrorLine]:
        return []

    async def event_backlog(self) -> EventBacklog:
        return EventBacklog()

    async def requeue_parked(self, now: datetime) -> int:
        return 0

    async def list_notifications(
        self,
        *,
        customer_id: str | None = None,
        status: NotificationStatus | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[NotificationRecord]:
        return []

    async def notification(self, notification_id: int) -> NotificationDetail | None:
        return None


async def test_pause_then_resume_names_the_targets_that_were_not_paused() -> None:
    reporting = Reporting(_Store(), FakeClock(T0))
    held = await reporting.pause(["sms"], ["delivery-late"], "maintenance")
    assert [(p.kind, p.target, p.created_at) for p in held] == [
        ("channel", "sms", T0), ("rule", "delivery-late", T0)
    ]  # fmt: skip
    resumed = await reporting.resume([("channel", "sms"), ("channel", "email")])
    assert resumed.not_paused == [("channel", "email")]
    assert [p.target for p in resumed.pauses] == ["delivery-late"]
    status = await reporting.status()
    assert status.now == T0 and [p.target for p in status.paused] == ["delivery-late"]
