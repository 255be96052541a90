"""The composer renders in the renderer's worker threads, and any failure is a TemplateError."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.config import Settings
from notifier.domain.models import (
    Customer,
    CustomerId,
    JSONValue,
    NotificationId,
    NotificationStatus,
    Promise,
    PromiseId,
    PromiseStatus,
)
from notifier.domain.outbox import Notification
from notifier.domain.problems import Problem
from notifier.engine.delivery.compose import Composer, customer_recipient
from notifier.templates import Company, Rendered, Renderer, TemplateError
from notifier.templates.context import link_for
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
        Renderer.from_settings(settings.render),
        Company("Acme", "https://x", "9-18"),
        settings.messages,
        settings.links,
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


def _promise(attributes: dict[str, JSONValue]) -> Promise:
    return Promise(
        id=PromiseId(7), customer_id=CUSTOMER.id, kind="delivery", status=PromiseStatus.BROKEN,
        due_at=NOW - timedelta(hours=2), external_ref="ext-7", created_at=NOW - timedelta(days=3),
        updated_at=NOW, status_changed_at=NOW, attributes=attributes,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("attributes", "shown"),
    [
        pytest.param({"tracking_url": "https://t.example/p/7"}, "https://t.example/p/7", id="link"),
        pytest.param({}, "https://x", id="help-url-without-one"),
        pytest.param({"tracking_url": "javascript:alert(1)"}, "https://x", id="not-a-web-link"),
    ],
)
async def test_a_real_send_carries_the_promises_link(
    tmp_path: Path, attributes: dict[str, JSONValue], shown: str
) -> None:
    composer = _composer(tmp_path, "{{ link or company.help_url }}")
    promise = _promise(attributes)
    rendered = await composer.render(_notification("m"), "m", "sms", CUSTOMER, promise, [], NOW)
    assert rendered.text == shown
    assert link_for(promise) == (shown if shown != "https://x" else None)


async def test_company_texts_follow_the_locale_rendered(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    for locale in ("es", "en"):
        (tmp_path / "m" / f"sms.{locale}.j2").write_text("{{ company.support_hours }}")
    settings = Settings(templates_dir=str(tmp_path))
    hours = {"es": "lun. a vie.", "en": "Mon-Fri"}
    composer = Composer(
        Renderer.from_settings(settings.render),
        Company("Acme", "https://x", hours),
        settings.messages,
        settings.links,
    )
    english = Customer(CustomerId("c-2"), "en-GB", "Europe/London", name="Ann Lee")
    spanish = Customer(CustomerId("c-3"), "es-AR", "America/Argentina/Buenos_Aires")
    for customer, expected in ((english, "Mon-Fri"), (spanish, "lun. a vie.")):
        rendered = await composer.render(_notification("m"), "m", "sms", customer, None, [], NOW)
        assert rendered.text == expected


def test_the_whatsapp_name_variable_is_the_given_names() -> None:
    customer = Customer(CUSTOMER.id, "es", CUSTOMER.timezone, name="María José Pérez Ruiz")
    rendered = Rendered("m", "whatsapp", "es", "p", "hola")
    recipient = customer_recipient(customer, rendered, NOW)
    assert recipient.content_variables["1"] == "María José"
