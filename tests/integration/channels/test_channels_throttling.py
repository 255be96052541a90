"""A provider asking us to slow down, on the wire: each channel's answer is a throttled outcome.

The local Twilio, X and SMTP servers answer every Nth send the way each provider throttles
(HTTP 429 with Retry-After, 429 with x-rate-limit-reset, SMTP 451 with rate words); the
sends between go through, and the throttled ones are no failure of the message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiohttp
import pytest

from notifier.channels.base import SendError, ThrottledError, TransientError
from notifier.channels.smtp import SmtpEmail
from notifier.channels.twilio_sms import TwilioSms
from notifier.channels.x_dm import XDirectMessage
from notifier.domain.outcomes import OutcomeKind, Reason
from tests.fakes.smtp_server import SmtpFake
from tests.fakes.twilio_server import TwilioFake
from tests.fakes.x_server import XFake
from tests.integration.channels.test_channels_smtp import mail
from tests.integration.channels.test_channels_twilio_sms import sms_to
from tests.integration.channels.test_channels_x import dm


async def _each(send: Callable[[], Awaitable[object]], count: int) -> list[SendError | None]:
    """Send ``count`` times; return each send's error (None when it went)."""
    results: list[SendError | None] = []
    for _ in range(count):
        try:
            await send()
        except SendError as exc:
            results.append(exc)
        else:
            results.append(None)
    return results


def _throttled_at(results: list[SendError | None]) -> list[int]:
    return [i for i, r in enumerate(results) if r is not None]


async def test_twilio_429_with_retry_after_is_throttled(
    sms: TwilioSms, twilio_fake: TwilioFake
) -> None:
    twilio_fake.throttle_every, twilio_fake.throttle_retry_after = 3, 2
    results = await _each(lambda: sms.send(sms_to("+5491155551234")), 6)
    assert _throttled_at(results) == [2, 5]
    for error in filter(None, results):
        assert type(error) is ThrottledError and error.outcome.kind is OutcomeKind.THROTTLED
        assert (error.reason, error.code) == (Reason.RATE_LIMITED, "20429")
        assert error.retry_after == timedelta(seconds=2)
    assert len(twilio_fake.messages) == 4 and twilio_fake.throttled == 2


@pytest.mark.parametrize(("status", "code"), [(429, 14107), (400, 14107), (429, 20429)])
async def test_twilio_rate_codes_are_throttled_whatever_the_status(
    sms: TwilioSms, twilio_fake: TwilioFake, status: int, code: int
) -> None:
    failure = {"status": status, "code": code, "message": "rate", "retry_after": 3}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{twilio_fake.url}/__fail", json=failure),
    ):
        pass
    with pytest.raises(ThrottledError) as caught:
        await sms.send(sms_to("+5491155551234"))
    assert caught.value.code == str(code)
    assert caught.value.retry_after == timedelta(seconds=3)


async def test_x_429_is_throttled_until_the_reset(x_dm: XDirectMessage, x_fake: XFake) -> None:
    x_fake.throttle_every, x_fake.throttle_retry_after = 2, 900
    results = await _each(lambda: x_dm.send(dm()), 4)
    assert _throttled_at(results) == [1, 3]
    for error in filter(None, results):
        assert type(error) is ThrottledError and error.code == "429"
        assert error.retry_after is not None
        assert timedelta(seconds=890) < error.retry_after <= timedelta(seconds=900)
    assert len(x_fake.sent) == 2


async def test_smtp_rate_limit_is_throttled_and_the_connection_stays_usable(
    email: SmtpEmail, smtp_fake: SmtpFake
) -> None:
    smtp_fake.throttle_every = 3
    results = await _each(lambda: email.send(mail()), 6)
    assert _throttled_at(results) == [2, 5]
    for error in filter(None, results):
        assert type(error) is ThrottledError and error.code == "451"
        assert error.retry_after == timedelta(seconds=1)  # "try again in 1 second"
    assert len(smtp_fake.received) == 4 and smtp_fake.connections == 1


async def test_smtp_rate_words_carry_the_wait_greylisting_stays_transient(
    email: SmtpEmail,
) -> None:
    with pytest.raises(ThrottledError) as caught:
        await email.send(mail("throttled@example.com"))
    assert caught.value.retry_after == timedelta(seconds=30)
    with pytest.raises(TransientError) as grey:
        await email.send(mail("greylist@example.com"))
    assert type(grey.value) is TransientError
    assert grey.value.outcome.kind is OutcomeKind.TRANSIENT
