"""Outbound events: the signature a receiver checks, what an answer means, the backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.config import load_settings
from notifier.config_errors import SettingsError
from notifier.domain.crm_events import (
    Answer,
    Draft,
    NotificationFacts,
    PromiseFacts,
    event_body,
    is_authentic,
    judge,
    retry_delay,
    signature,
    stream_of,
)

SECRET = "whsec-0123456789abcdef"
BODY = b'{"id":"e1","type":"promise.status_changed"}'
T = 1_795_000_000  # 2026-11-18T...Z, an explicit instant
AT = datetime.fromtimestamp(T, UTC)


def test_the_signature_is_hmac_sha256_of_t_dot_body_in_hex() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, BODY, T) == f"t={T},v1={expected}"


@pytest.mark.parametrize(
    ("header", "body", "now", "ok"),
    [
        pytest.param(signature(SECRET, BODY, T), BODY, AT, True, id="fresh"),
        pytest.param(signature(SECRET, BODY, T), BODY, AT + timedelta(minutes=4), True,
                     id="four-minutes-old"),
        pytest.param(signature(SECRET, BODY, T), BODY, AT + timedelta(minutes=5, seconds=1),
                     False, id="replayed-past-five-minutes"),
        pytest.param(signature(SECRET, BODY, T), BODY, AT - timedelta(minutes=6), False,
                     id="from-the-future"),
        pytest.param(signature("another-secret-000", BODY, T), BODY, AT, False,
                     id="other-secret"),
        pytest.param(signature(SECRET, BODY, T), BODY + b" ", AT, False, id="body-changed"),
        pytest.param(signature(SECRET, BODY, T - 1).replace(f"t={T - 1}", f"t={T}"), BODY, AT,
                     False, id="t-changed"),
        pytest.param("v1=abc", BODY, AT, False, id="no-t"),
        pytest.param("t=soon,v1=abc", BODY, AT, False, id="t-not-a-number"),
        pytest.param("", BODY, AT, False, id="empty"),
    ],
)  # fmt: skip
def test_a_receiver_accepts_only_a_fresh_signature_of_this_body(
    header: str, body: bytes, now: datetime, ok: bool
) -> None:
    assert is_authentic(SECRET, body, header, now) is ok


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        pytest.param(200, Answer.DELIVERED, id="ok"),
        pytest.param(204, Answer.DELIVERED, id="no-content"),
        pytest.param(500, Answer.RETRY, id="server-error"),
        pytest.param(503, Answer.RETRY, id="unavailable"),
        pytest.param(429, Answer.RETRY, id="rate-limited"),
        pytest.param(408, Answer.RETRY, id="request-timeout"),
        pytest.param(401, Answer.RETRY, id="wrong-secret-is-our-setup"),
        pytest.param(404, Answer.RETRY, id="wrong-url-is-our-setup"),
        pytest.param(301, Answer.RETRY, id="redirect-not-followed"),
        pytest.param(400, Answer.PARK, id="bad-request"),
        pytest.param(422, Answer.PARK, id="unprocessable"),
        pytest.param(413, Answer.PARK, id="too-large"),
    ],
)
def test_what_an_answer_means(status: int, answer: Answer) -> None:
    assert judge(status) is answer


FLOOR, CAP = timedelta(seconds=1), timedelta(minutes=10)


@pytest.mark.parametrize(
    ("attempts", "jitter", "retry_after", "wait"),
    [
        pytest.param(1, 0.0, None, timedelta(seconds=0.5), id="first-retry-low"),
        pytest.param(1, 0.999999, None, timedelta(seconds=1), id="first-retry-high"),
        pytest.param(4, 0.0, None, timedelta(seconds=4), id="doubles"),
        pytest.param(30, 0.0, None, timedelta(minutes=5), id="capped"),
        pytest.param(1, 0.0, timedelta(seconds=30), timedelta(seconds=30), id="retry-after"),
        pytest.param(30, 0.0, timedelta(hours=1), timedelta(hours=1), id="retry-after-past-cap"),
        pytest.param(4, 0.0, timedelta(seconds=1), timedelta(seconds=4), id="retry-after-short"),
    ],
)
def test_retry_delay(
    attempts: int, jitter: float, retry_after: timedelta | None, wait: timedelta
) -> None:
    got = retry_delay(attempts, FLOOR, CAP, jitter, retry_after)
    assert abs(got - wait) < timedelta(milliseconds=1)


@given(st.integers(0, 10_000), st.floats(0, 1, exclude_max=True))
def test_a_retry_never_waits_past_the_cap_nor_less_than_half_its_step(
    attempts: int, jitter: float
) -> None:
    wait = retry_delay(attempts, FLOOR, CAP, jitter, None)
    assert FLOOR / 2 <= wait <= CAP


def test_the_body_holds_ids_and_codes() -> None:
    promise = PromiseFacts(7, "order-7", "delivery", "broken")
    n = NotificationFacts(3, "sms", "failed", "delivery_late", "SM1", "invalid_address")
    draft = Draft("promise:7", "notification.status_changed", "c-1", promise, n)
    body = json.loads(event_body(draft, "k1", 4, AT))
    assert body == {
        "id": "k1", "type": "notification.status_changed", "occurred_at": AT.isoformat(),
        "sequence": 4, "stream": "promise:7", "customer": {"id": "c-1"},
        "promise": {"id": 7, "external_ref": "order-7", "kind": "delivery", "status": "broken"},
        "notification": {"id": 3, "channel": "sms", "status": "failed",
                         "message": "delivery_late", "provider_message_id": "SM1",
                         "reason": "invalid_address"},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("promise_id", "customer_id", "stream"),
    [
        pytest.param(5, "c-1", "promise:5", id="a-promise"),
        pytest.param(None, "c-1", "customer:c-1", id="an-incident-notice"),
        pytest.param(None, None, None, id="to-ops-about-no-one"),
    ],
)
def test_stream_of(promise_id: int | None, customer_id: str | None, stream: str | None) -> None:
    assert stream_of(promise_id, customer_id) == stream


def test_the_receiver_snippet_in_the_docs_accepts_our_signature_only() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    (snippet,) = [b for b in docs.split("```python\n")[1:] if "def verify(" in b]
    scope: dict[str, Any] = {}
    exec(snippet.split("```")[0], scope)  # our own docs, checked as written
    verify = scope["verify"]
    now = int(time.time())
    assert verify(SECRET, BODY, signature(SECRET, BODY, now))
    assert not verify(SECRET, BODY + b"x", signature(SECRET, BODY, now))
    assert not verify(SECRET, BODY, signature(SECRET, BODY, now - 301))
    assert not verify("another-secret-000", BODY, signature(SECRET, BODY, now))


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        pytest.param({"NOTIFIER_EVENTS_URL": "ftp://crm.example/events"},
                     "NOTIFIER_EVENTS_URL: 'ftp://crm.example/events' is not an http:// or "
                     "https:// URL with a host", id="not-http"),
        pytest.param({"NOTIFIER_EVENTS_URL": "https:///events"},
                     "NOTIFIER_EVENTS_URL: 'https:///events' is not an http:// or https:// URL "
                     "with a host", id="no-host"),
        pytest.param({"NOTIFIER_EVENTS_URL": "https://crm.example/events"},
                     "NOTIFIER_EVENTS_SECRET: set at least 16 characters", id="no-secret"),
        pytest.param({"NOTIFIER_EVENTS_URL": "https://crm.example/events",
                      "NOTIFIER_EVENTS_SECRET": "short-secret"},
                     "NOTIFIER_EVENTS_SECRET: set at least 16 characters", id="short-secret"),
        pytest.param({"NOTIFIER_EVENTS_TIMEOUT": "0s"}, "NOTIFIER_EVENTS_TIMEOUT: ",
                     id="zero-timeout"),
        pytest.param({"NOTIFIER_EVENTS_CONCURRENCY": "0"}, "NOTIFIER_EVENTS_CONCURRENCY: ",
                     id="zero-concurrency"),
    ],
)  # fmt: skip
def test_bad_event_settings_are_one_clear_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    [line] = caught.value.problems
    assert line.startswith(problem)
    assert "short-secret" not in line  # a secret is never repeated


def test_event_settings_are_off_unless_the_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().events.events_url is None
    monkeypatch.setenv("NOTIFIER_EVENTS_URL", " https://crm.example/events ")
    monkeypatch.setenv("NOTIFIER_EVENTS_SECRET", "whsec-0123456789abcdef")
    s = load_settings().events
    assert s.events_url == "https://crm.example/events"
    assert "whsec" not in repr(s)  # SecretStr
    assert (s.events_timeout, s.events_keep) == (timedelta(seconds=10), timedelta(days=7))
