"""The composer renders in the renderer's worker threads, and any failure is a TemplateError."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.config import Settings
from notifier.domain.models import Customer, CustomerId, NotificationId, NotificationStatus
from notifier.domain.outbox import Notification
from notifier.domain.problems import Problem
from notifier.engine.compose import Composer
from notifier.templates import Company, Renderer, TemplateError
from notifier.templates.workers import RenderPool

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
LATE = Problem(
    "templates/m/sms.es.j2", 1, 1, "template exceeds the time limit and is still running"
)
CUSTOMER = Customer(CustomerId("c-1"), "es", "America/Argentina/Buenos_Aires", name="Ana Pérez")


def _notification(message: str) -> Notification:
    return Notification(
        id=NotificationId(1), dedupe_key="r:7:1:0", customer_id=CUSTOMER.id, promise_id=None,
        rule_id="r", message=message, stage="late", step=0, priority="normal",
        audience="customer", channel_choice="last_used", fallback=(), failed_channels=frozenset(),
        status=NotificationStatus.SENDING, not_before=NOW, attempts=0, deadline_version=1,
        quiet_hours=None, created_at=NOW,
    )  # fmt: skip


def _composer(tmp_path: Path, body: str) -> Composer:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "sms.es.j2").write_text(body, encoding="utf-8")
    settings = Settings(templates_dir=str(tmp_path))
    return Composer(
        Renderer.from_settings(settings), Company("Acme", "https://x", "9-18"), settings
    )


async def test_the_composer_renders_in_a_worker_thread(tmp_path: Path) -> None:
    composer = _composer(tmp_path, "Hola, {{ customer.first_name }}")
    assert not composer.renderer.workers_started
    rendered = await composer.render(_notification("m"), "m", "sms", CUSTOMER, None, [], NOW)
    assert rendered.text == "Hola, Ana"
    assert composer.renderer.workers_started


async def test_an_exception_in_the_worker_is_a_template_error(tmp_path: Path) -> None:
    composer = _composer(tmp_path, "Hola\n{{ 1 / 0 }}")
    with pytest.raises(TemplateError, match=r"m/sms\.es\.j2:2:1: cannot render: ZeroDivision"):
        await composer.render(_notification("m"), "m", "sms", CUSTOMER, None, [], NOW)


async def test_the_caller_stops_waiting_for_a_render_stuck_past_its_deadline() -> None:
    # A render checks its own deadline between operations; one stuck inside a single
    # operation must still not hold up the dispatcher.
    stuck = threading.Event()
    pool = RenderPool(timedelta(milliseconds=1), grace=timedelta(milliseconds=50))
    try:
        with pytest.raises(TemplateError, match="still running"):
            await pool.run(stuck.wait, on_timeout=lambda: TemplateError(LATE))
    finally:
        stuck.set()
        pool.close()
