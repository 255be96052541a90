"""Each provider's classification table: wire answer in, kind of failure out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiosmtplib
import pytest

from notifier.channels import smtp, twilio_api, x_dm
from notifier.channels.base import (
    ChannelDownError,
    PermanentError,
    Reason,
    SendError,
    ThrottledError,
    TransientError,
)
from notifier.domain.outcomes import OutcomeKind

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

TWILIO = [
    pytest.param(400, 21211, PermanentError, Reason.INVALID_ADDRESS, id="21211"),
    pytest.param(400, 21610, PermanentError, Reason.OPTED_OUT, id="21610"),
    pytest.param(400, 21614, PermanentError, Reason.NOT_MOBILE, id="21614"),
    pytest.param(400, 63016, PermanentError, Reason.NO_TEMPLATE, id="63016"),
    pytest.param(400, 21602, PermanentError, Reason.REJECTED, id="other-400"),
    # Throttling is its own kind (issue 16): was TransientError, which counted attempts.
    pytest.param(429, 20429, ThrottledError, Reason.RATE_LIMITED, id="20429"),
    pytest.param(429, None, ThrottledError, Reason.RATE_LIMITED, id="429-no-code"),
    pytest.param(400, 14107, ThrottledError, Reason.RATE_LIMITED, id="14107-on-400"),
    pytest.param(429, 14107, ThrottledError, Reason.RATE_LIMITED, id="14107"),
    pytest.param(502, None, TransientError, Reason.PROVIDER_ERROR, id="502"),
    pytest.param(401, 20003, ChannelDownError, Reason.AUTH_FAILED, id="20003"),
    pytest.param(401, None, ChannelDownError, Reason.AUTH_FAILED, id="401"),
    pytest.param(403, 20003, ChannelDownError, Reason.AUTH_FAILED, id="20003-on-403"),
]


@pytest.mark.parametrize(("status", "code", "kind", "reason"), TWILIO)
def test_twilio(status: int, code: int | None, kind: type[SendError], reason: Reason) -> None:
    error = twilio_api.classify(status, code, "text")
    assert (type(error), error.reason) == (kind, reason)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("30", timedelta(seconds=30)),
        ("Wed, 25 Nov 2026 12:01:00 GMT", timedelta(minutes=1)),
        ("Wed, 25 Nov 2026 11:00:00 GMT", timedelta(0)),
        ("soon", None),
        (None, None),
        ("9" * 40, timedelta(days=7)),  # past a timedelta's range: a week, not a crash
    ],
)
def test_retry_after(header: str | None, expected: timedelta | None) -> None:
    assert twilio_api.parse_retry_after(header, NOW) == expected


X = [
    pytest.param(401, {}, ChannelDownError, Reason.AUTH_FAILED, id="401"),
    pytest.param(403, {"type": "https://api.twitter.com/2/problems/unsupported-authentication"},
                 ChannelDownError, Reason.MISCONFIGURED, id="app-only-token"),
    pytest.param(403, {"type": "about:blank"}, PermanentError, Reason.CANNOT_DM, id="cannot-dm"),
    pytest.param(404, {}, PermanentError, Reason.INVALID_ADDRESS, id="no-such-user"),
    pytest.param(400, {}, PermanentError, Reason.REJECTED, id="bad-request"),
    pytest.param(429, {"_reset": int(NOW.timestamp()) + 90}, ThrottledError, Reason.RATE_LIMITED,
                 id="rate-limited"),
    pytest.param(503, {}, TransientError, Reason.PROVIDER_ERROR, id="503"),
    pytest.param(429, {"_reset": 10**20}, ThrottledError, Reason.RATE_LIMITED,
                 id="rate-limited-reset-past-any-clock"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "problem", "kind", "reason"), X)
def test_x(status: int, problem: dict[str, object], kind: type[SendError], reason: Reason) -> None:
    error = x_dm.classify(status, problem, "text", NOW)
    assert (type(error), error.reason) == (kind, reason)
    if status == 429:
        assert isinstance(error, TransientError)
        expected = timedelta(seconds=90) if problem["_reset"] == int(NOW.timestamp()) + 90 else None
        assert error.retry_after == expected


refused = aiosmtplib.SMTPRecipientRefused
SMTP = [
    pytest.param(aiosmtplib.SMTPRecipientsRefused([refused(550, "no such user", "a@b")]),
                 PermanentError, Reason.RECIPIENT_REFUSED, id="rcpt-550"),
    pytest.param(aiosmtplib.SMTPRecipientsRefused([refused(451, "greylisted", "a@b")]),
                 TransientError, Reason.TEMPORARY_FAILURE, id="rcpt-451"),
    pytest.param(aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), ChannelDownError,
                 Reason.AUTH_FAILED, id="auth-535"),
    pytest.param(aiosmtplib.SMTPResponseException(530, "auth required"), ChannelDownError,
                 Reason.MISCONFIGURED, id="530"),
    pytest.param(aiosmtplib.SMTPSenderRefused(553, "not your domain", "x@y"), ChannelDownError,
                 Reason.MISCONFIGURED, id="sender-553"),
    pytest.param(aiosmtplib.SMTPDataError(554, "spam"), PermanentError, Reason.REJECTED,
                 id="data-554"),
    pytest.param(aiosmtplib.SMTPDataError(452, "storage"), TransientError,
                 Reason.TEMPORARY_FAILURE, id="data-452"),
    pytest.param(aiosmtplib.SMTPRecipientsRefused([refused(452, "4.2.2 Mailbox full", "a@b")]),
                 TransientError, Reason.TEMPORARY_FAILURE, id="rcpt-452-mailbox-full"),
    pytest.param(aiosmtplib.SMTPRecipientsRefused(
                     [refused(451, "4.7.1 Rate limit exceeded, try again later", "a@b")]),
                 ThrottledError, Reason.RATE_LIMITED, id="rcpt-451-rate-limit"),
    pytest.param(aiosmtplib.SMTPRecipientsRefused(
                     [refused(452, "4.2.1 The recipient is over its rate limit", "a@b")]),
                 TransientError, Reason.TEMPORARY_FAILURE, id="rcpt-452-one-mailbox-rate"),
    pytest.param(aiosmtplib.SMTPResponseException(421, "4.7.0 Too many messages, slow down"),
                 ThrottledError, Reason.RATE_LIMITED, id="421-too-many-messages"),
    pytest.param(aiosmtplib.SMTPDataError(450, "4.7.1 Throttled: sending rate exceeded"),
                 ThrottledError, Reason.RATE_LIMITED, id="data-450-throttled"),
    pytest.param(aiosmtplib.SMTPResponseException(421, "4.3.2 Service shutting down"),
                 TransientError, Reason.TEMPORARY_FAILURE, id="421-shutting-down"),
    pytest.param(aiosmtplib.SMTPReadTimeoutError("slow"), TransientError, Reason.TIMEOUT,
                 id="timeout"),
    pytest.param(aiosmtplib.SMTPServerDisconnected("gone"), TransientError, Reason.CONNECTION,
                 id="disconnected"),
    pytest.param(ConnectionRefusedError(), TransientError, Reason.CONNECTION, id="refused"),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "kind", "reason"), SMTP)
def test_smtp(exc: Exception, kind: type[SendError], reason: Reason) -> None:
    error = smtp.classify(exc)
    assert (type(error), error.reason) == (kind, reason)
    if isinstance(error, PermanentError) and reason == Reason.RECIPIENT_REFUSED:
        assert error.address_failed


def test_address_failed_only_for_dead_addresses() -> None:
    dead = {21211, 21614}
    for code in (21211, 21610, 21614, 63016):
        error = twilio_api.classify(400, code, "x")
        assert isinstance(error, PermanentError)
        assert error.address_failed is (code in dead)


# A status callback (MessageStatus, ErrorCode) -> the outcome it means, from the same table.
REPORTS = [
    pytest.param("delivered", None, OutcomeKind.DELIVERED, None, False, False, id="delivered"),
    pytest.param("read", None, OutcomeKind.READ, None, False, False, id="read"),
    pytest.param("Sent", None, OutcomeKind.IN_PROGRESS, None, False, False, id="sent-any-case"),
    pytest.param("queued", None, OutcomeKind.IN_PROGRESS, None, False, False, id="queued"),
    pytest.param("undelivered", "30003", OutcomeKind.PERMANENT, Reason.UNDELIVERED, False, False,
                 id="unreachable"),
    pytest.param("failed", None, OutcomeKind.PERMANENT, Reason.UNDELIVERED, False, False,
                 id="failed-no-code"),
    pytest.param("failed", "21211", OutcomeKind.PERMANENT, Reason.INVALID_ADDRESS, True, False,
                 id="21211"),
    pytest.param("failed", "21614", OutcomeKind.PERMANENT, Reason.NOT_MOBILE, True, False,
                 id="21614"),
    pytest.param("undelivered", "21610", OutcomeKind.PERMANENT, Reason.OPTED_OUT, False, True,
                 id="21610"),
    pytest.param("undelivered", "63016", OutcomeKind.PERMANENT, Reason.NO_TEMPLATE, False, False,
                 id="63016"),
    pytest.param("undelivered", "99999", OutcomeKind.PERMANENT, Reason.UNDELIVERED, False, False,
                 id="unknown-code"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "code", "kind", "reason", "dead", "opted_out"), REPORTS)
def test_twilio_status_callbacks(
    status: str,
    code: str | None,
    kind: OutcomeKind,
    reason: Reason | None,
    dead: bool,
    opted_out: bool,
) -> None:
    outcome = twilio_api.report_outcome("SM1", status, code)
    assert (outcome.kind, outcome.reason) == (kind, reason)
    assert (outcome.address_dead, outcome.opted_out) == (dead, opted_out)
    assert (outcome.provider_id, outcome.status, outcome.code) == ("SM1", status.lower(), code)


def test_a_callback_says_what_its_code_means() -> None:
    assert twilio_api.report_outcome("SM1", "undelivered", "21610").text == (
        "Twilio reports undelivered (21610: the recipient unsubscribed (STOP))"
    )
    assert twilio_api.report_outcome("SM1", "failed", "30010").text == (
        "Twilio reports failed (30010: no reason given)"
    )
    assert twilio_api.report_outcome("SM1", "failed", None).text == "Twilio reports failed"


@pytest.mark.parametrize("code", sorted(twilio_api.CODES))
def test_a_code_means_the_same_at_send_time_and_in_a_callback(code: int) -> None:
    sent = twilio_api.answer_outcome(400, code, "text")
    reported = twilio_api.report_outcome("SM1", "failed", str(code))
    if sent.kind is OutcomeKind.PERMANENT and sent.reason is not Reason.REJECTED:
        assert sent.reason == reported.reason
    assert (sent.address_dead, sent.opted_out) == (reported.address_dead, reported.opted_out)


def test_the_error_raised_carries_the_outcome() -> None:
    error = twilio_api.classify(400, 21610, "Attempt to send to unsubscribed recipient")
    assert isinstance(error, PermanentError) and error.opted_out and not error.address_failed
    assert error.outcome == twilio_api.answer_outcome(
        400, 21610, "Attempt to send to unsubscribed recipient"
    )
    assert (
        str(error)
        == error.outcome.line
        == ("permanent (opted_out 21610): Attempt to send to unsubscribed recipient")
    )
    transient = twilio_api.classify(429, 20429, "slow", timedelta(seconds=3))
    assert isinstance(transient, TransientError)
    assert transient.outcome.retry_after == transient.retry_after == timedelta(seconds=3)


def test_x_and_smtp_errors_carry_the_same_vocabulary() -> None:
    x = x_dm.classify(403, {"type": "about:blank"}, "text", NOW)
    assert (x.outcome.kind, x.outcome.reason) == (OutcomeKind.PERMANENT, Reason.CANNOT_DM)
    mail = smtp.classify(aiosmtplib.SMTPAuthenticationError(535, "bad credentials"))
    assert (mail.outcome.kind, mail.outcome.code) == (OutcomeKind.CHANNEL_DOWN, "535")


@pytest.mark.parametrize(
    ("text", "wait"),
    [
        ("4.7.1 Rate limit exceeded, try again in 30 seconds", timedelta(seconds=30)),
        ("4.7.0 Throttled; retry in 2 minutes", timedelta(minutes=2)),
        ("4.7.0 Too many connections from your IP", None),
    ],
)
def test_smtp_throttling_keeps_the_wait_the_relay_names(text: str, wait: timedelta | None) -> None:
    error = smtp.classify(aiosmtplib.SMTPResponseException(421, text))
    assert isinstance(error, ThrottledError) and error.outcome.kind is OutcomeKind.THROTTLED
    assert error.retry_after == error.outcome.retry_after == wait
    assert error.code == "421"


def test_a_throttled_answer_is_no_failure_of_the_message() -> None:
    throttled = twilio_api.answer_outcome(429, 20429, "Too Many Requests", timedelta(seconds=1))
    assert throttled.kind is OutcomeKind.THROTTLED and not throttled.is_failure
    assert throttled.line == "throttled (rate_limited 20429): Too Many Requests"
    assert throttled.retry_after == timedelta(seconds=1)
