"""Which incident a customer's reply answers, and the digest ops get of an incident's replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.domain.crisis_replies import (
    LISTED,
    LISTED_CHARS,
    REPLY_WINDOW,
    TEXT_CHARS,
    CrisisReply,
    LastMessage,
    PendingReplies,
    answered_incident,
    digest_notice,
    listed,
    listed_size,
    shortened,
)
from notifier.domain.models import CustomerId, IncidentStatus
from notifier.domain.ops_notices import CRISIS_REPLIES
from notifier.templates import Renderer
from notifier.templates.context import ops_context

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/Argentina/Buenos_Aires")
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
C1 = CustomerId("c-1")


def _last(status: IncidentStatus | None, resolved_ago: timedelta | None = None) -> LastMessage:
    resolved_at = NOW - resolved_ago if resolved_ago is not None else None
    return LastMessage(C1, 7 if status is not None else None, status, resolved_at)


ANSWERS = [
    pytest.param(_last(IncidentStatus.INVESTIGATING), 7, id="open"),
    pytest.param(_last(IncidentStatus.IDENTIFIED), 7, id="identified"),
    pytest.param(_last(IncidentStatus.MONITORING), 7, id="monitoring"),
    pytest.param(_last(IncidentStatus.RESOLVED, timedelta(hours=1)), 7, id="resolved-1h-ago"),
    pytest.param(_last(IncidentStatus.RESOLVED, REPLY_WINDOW), 7, id="resolved-24h-ago"),
    pytest.param(
        _last(IncidentStatus.RESOLVED, REPLY_WINDOW + timedelta(seconds=1)),
        None,
        id="resolved-over-24h-ago",
    ),
    pytest.param(_last(IncidentStatus.DISMISSED, timedelta(hours=1)), None, id="dismissed"),
    pytest.param(_last(None), None, id="an-individual-notice"),
    pytest.param(None, None, id="nothing-sent-yet"),
]


@pytest.mark.parametrize(("last", "expected"), ANSWERS)
def test_a_reply_answers_an_open_or_lately_resolved_incident(
    last: LastMessage | None, expected: int | None
) -> None:
    assert answered_incident(last, NOW) == expected


SHORTENED = [
    pytest.param("ok gracias", "ok gracias", id="short"),
    pytest.param("  two\nlines\t here ", "two lines here", id="one-line"),
    pytest.param(None, "(erased)", id="erased"),
    pytest.param("x" * TEXT_CHARS, "x" * TEXT_CHARS, id="just-fits"),
    pytest.param("x" * (TEXT_CHARS + 1), "x" * (TEXT_CHARS - 1) + "…", id="one-word-cut"),
]


@pytest.mark.parametrize(("text", "expected"), SHORTENED)
def test_a_listed_text_is_one_line_and_bounded(text: str | None, expected: str) -> None:
    assert shortened(text) == expected


def test_a_long_text_is_cut_at_a_word() -> None:
    text = "Necesito el pedido para el viernes sin falta, " * 10
    cut = shortened(text)
    assert len(cut) <= TEXT_CHARS and cut.endswith("…")
    assert cut[:-1] == cut[:-1].rstrip() and text.startswith(cut[:-1])
    assert text[len(cut) - 1] == " "  # the cut falls between words


def _reply(i: int, text: str = "¿y mi pedido?", customer: str | None = None) -> CrisisReply:
    return CrisisReply(7, CustomerId(customer or f"c-{i}"), "sms", "+54911****0101", text,
                       f"twilio-inbound:SM{i}", NOW + timedelta(seconds=i))  # fmt: skip


def _pending(replies: list[CrisisReply], count: int | None = None) -> PendingReplies:
    return PendingReplies(
        7, "Paro de transportistas", IncidentStatus.IDENTIFIED, 3, count or len(replies),
        1000, replies[0].at, replies[-1].at, tuple(replies[:LISTED]),
    )  # fmt: skip


def test_the_digest_lists_its_replies_oldest_first_in_the_default_zone() -> None:
    replies = [_reply(1, "ok gracias"), _reply(2, "¿cuándo llega?\nlo necesito")]
    notice = digest_notice(_pending(replies), NOW, ZONE)
    assert notice.message == CRISIS_REPLIES and notice.audience == "ops"
    assert notice.dedupe_key == "incident:7:digest:3" and notice.customer_id is None
    assert notice.incident_id is None  # not one of the incident's own rows (its counts)
    data = notice.data
    assert data["count"] == 2 and data["more"] == 0 and data["digest"] == 3
    assert data["incident"] == {"id": 7, "title": "Paro de transportistas",
                                "status": "identified"}  # fmt: skip
    assert data["replies"] == [
        {"customer": "c-1", "channel": "sms", "sender": "+54911****0101",
         "at": "2026-11-24 12:00", "text": "ok gracias"},
        {"customer": "c-2", "channel": "sms", "sender": "+54911****0101",
         "at": "2026-11-24 12:00", "text": "¿cuándo llega? lo necesito"},
    ]  # fmt: skip
    assert data["timezone"] == "America/Argentina/Buenos_Aires"


def test_past_the_cap_the_others_are_counted() -> None:
    replies = [_reply(i) for i in range(LISTED + 50)]
    notice = digest_notice(_pending(replies, count=5000), NOW, ZONE)
    shown = notice.data["replies"]
    assert isinstance(shown, list) and len(shown) == LISTED
    assert notice.data["more"] == 5000 - LISTED


def test_long_replies_are_listed_within_the_characters_budget() -> None:
    replies = [_reply(i, "palabra " * 100, customer="c" * 128 + str(i)) for i in range(LISTED)]
    shown = listed(tuple(replies))
    assert 0 < len(shown) < LISTED
    assert sum(listed_size(r) for r in shown) <= LISTED_CHARS


DIGEST_TEXTS = [
    pytest.param("ok", id="short"),
    pytest.param("Tom & Jerry <b>" * 30, id="long-escaped"),
    pytest.param("<" * 300, id="all-escaped"),
    pytest.param("é" * 300, id="one-long-word"),
]


@pytest.mark.parametrize("text", DIGEST_TEXTS)
def test_a_full_digest_renders_within_the_output_limit(text: str) -> None:
    # The worst a digest lists: 200 replies (or as many long ones as the budget holds),
    # long ids, texts whose html escaping grows them. It renders, under the 64 KB bound.
    renderer = Renderer(TEMPLATES, default_locale="es")
    replies = [_reply(i, text, customer="c" * 100 + f"{i:04d}") for i in range(LISTED + 1)]
    notice = digest_notice(_pending(replies, count=9999), NOW, ZONE)
    rendered = renderer.render(CRISIS_REPLIES, "email", "en", {"ops": ops_context(notice.data, {})})
    assert rendered.subject == "Incident 7: 9999 replies from customers (Paro de transportistas)"
    assert rendered.html is not None
    assert len(rendered.text) + len(rendered.html) < 65_536
    shown = notice.data["replies"]
    assert isinstance(shown, list)
    assert f"... and {9999 - len(shown)} more" in rendered.text
    # The budget is spent, not wasted: it lists as many as fit or all it may.
    assert len(shown) == LISTED or len(rendered.text) + len(rendered.html) > 40_000
