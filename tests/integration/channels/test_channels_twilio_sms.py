"""SMS through the real twilio SDK against a local server speaking Twilio's wire format."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from notifier.channels.base import (
    ChannelDownError,
    OutboundMessage,
    PermanentError,
    Reason,
    SendError,
    ThrottledError,
    TransientError,
)
from notifier.channels.twilio_sms import SmsSettings, TwilioSms
from tests.fakes.http_server import Failure
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioFake
from tests.integration.channels.conftest import CheckContract, twilio_credentials

PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def sms_to(to: str, text: str = "Tu pedido 1234 llega mañana.", **extra: object) -> OutboundMessage:
    return OutboundMessage(
        dedupe_key="rule:1:1:0",
        channel="sms",
        to=to,
        text=text,
        message_name="delivery_late",
        locale="es",
        **extra,  # type: ignore[arg-type]  # tests pass valid fields
    )


async def test_send_posts_the_form_twilio_expects(
    sms: TwilioSms, twilio_fake: TwilioFake, twilio_contract: CheckContract
) -> None:
    message = sms_to("+5491155551234", status_callback="https://n.example/webhooks/twilio/status")
    receipt = await sms.send(message)

    assert receipt.provider_id.startswith("SM")
    assert receipt.status == "queued"
    [request] = twilio_fake.requests
    assert (request.method, request.path) == ("POST", PATH)
    assert request.content_type.startswith("application/x-www-form-urlencoded")
    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    assert twilio_fake.forms() == [
        {
            "To": "+5491155551234",
            "From": "+15017122661",
            "Body": "Tu pedido 1234 llega mañana.",
            "ValidityPeriod": "14400",
            "StatusCallback": "https://n.example/webhooks/twilio/status",
        }
    ]
    twilio_contract(request)


async def test_messaging_service_replaces_the_from_number(twilio_fake: TwilioFake) -> None:
    channel = TwilioSms(
        SmsSettings(
            twilio_credentials(twilio_fake),
            from_number="+15017122661",
            messaging_service_sid="MG" + "1" * 32,
            validity_period=timedelta(days=3),  # more than Twilio takes: clamped
        )
    )
    try:
        await channel.send(sms_to("+5491155551234"))
    finally:
        await channel.aclose()
    [form] = twilio_fake.forms()
    assert form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in form
    assert form["ValidityPeriod"] == "36000"


# What the wire says -> what the dispatcher is told.
WIRE = [
    pytest.param(400, 21211, PermanentError, Reason.INVALID_ADDRESS, True, id="invalid-number"),
    pytest.param(400, 21610, PermanentError, Reason.OPTED_OUT, False, id="recipient-sent-stop"),
    pytest.param(400, 21614, PermanentError, Reason.NOT_MOBILE, True, id="landline"),
    pytest.param(400, 21408, PermanentError, Reason.REJECTED, False, id="other-4xx"),
    pytest.param(429, 20429, ThrottledError, Reason.RATE_LIMITED, None, id="rate-limited"),
    pytest.param(500, 20500, TransientError, Reason.PROVIDER_ERROR, None, id="server-error"),
    pytest.param(503, None, TransientError, Reason.PROVIDER_ERROR, None, id="unavailable"),
    pytest.param(401, 20003, ChannelDownError, Reason.AUTH_FAILED, None, id="bad-credentials"),
]


@pytest.mark.parametrize(("status", "code", "kind", "reason", "dead"), WIRE)
async def test_wire_answers_map_to_kinds(
    sms: TwilioSms,
    twilio_fake: TwilioFake,
    status: int,
    code: int | None,
    kind: type[SendError],
    reason: Reason,
    dead: bool | None,
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{twilio_fake.url}/__fail",
            json={"status": status, "code": code, "message": "forced", "retry_after": 7},
        ),
    ):
        pass
    with pytest.raises(SendError) as caught:
        await sms.send(sms_to("+5491155551234"))
    error = caught.value
    assert type(error) is kind
    assert error.reason == reason
    assert error.code == (str(code) if code is not None else str(status))
    assert error.provider_message == "forced"
    if isinstance(error, PermanentError):
        assert error.address_failed is dead
    if isinstance(error, TransientError):
        assert error.retry_after == timedelta(seconds=7)


@pytest.mark.parametrize(
    ("to", "reason", "code"),
    [
        ("+15005550001", Reason.INVALID_ADDRESS, "21211"),
        ("+15005550004", Reason.OPTED_OUT, "21610"),
        ("+15005550009", Reason.NOT_MOBILE, "21614"),
    ],
)
async def test_magic_numbers_fail_permanently(
    sms: TwilioSms, to: str, reason: Reason, code: str
) -> None:
    with pytest.raises(PermanentError) as caught:
        await sms.send(sms_to(to))
    assert (caught.value.reason, caught.value.code) == (reason, code)


async def test_rate_limit_carries_retry_after(sms: TwilioSms) -> None:
    with pytest.raises(TransientError) as caught:
        await sms.send(sms_to("+15005550429"))
    assert caught.value.code == "20429"
    assert caught.value.retry_after == timedelta(seconds=1)


async def test_wrong_auth_token_means_channel_down(twilio_fake: TwilioFake) -> None:
    channel = TwilioSms(
        SmsSettings(twilio_credentials(twilio_fake, "wrong"), "+15017122661", None, timedelta(1))
    )
    try:
        with pytest.raises(ChannelDownError) as caught:
            await channel.send(sms_to("+5491155551234"))
    finally:
        await channel.aclose()
    assert caught.value.code == "20003"
    assert "wrong" not in str(caught.value)


async def test_slow_answer_is_a_transient_timeout(twilio_fake: TwilioFake) -> None:
    channel = TwilioSms(
        SmsSettings(
            twilio_credentials(twilio_fake),
            "+15017122661",
            None,
            timedelta(hours=1),
            timeout=timedelta(milliseconds=200),
        )
    )
    twilio_fake.failures.append(Failure(mode="slow", delay_ms=5000))
    try:
        with pytest.raises(TransientError) as caught:
            await channel.send(sms_to("+5491155551234"))
    finally:
        await channel.aclose()
    assert caught.value.reason == Reason.TIMEOUT


async def test_dropped_connection_is_transient(sms: TwilioSms, twilio_fake: TwilioFake) -> None:
    twilio_fake.failures.append(Failure(mode="drop"))
    with pytest.raises(TransientError) as caught:
        await sms.send(sms_to("+5491155551234"))
    assert caught.value.reason == Reason.CONNECTION
    # The next send goes through on a fresh connection.
    assert (await sms.send(sms_to("+5491155551234"))).provider_id.startswith("SM")


async def test_connections_are_reused(sms: TwilioSms, twilio_fake: TwilioFake) -> None:
    for _ in range(10):
        await sms.send(sms_to("+5491155551234"))
    await asyncio.gather(*(sms.send(sms_to(f"+54911555500{i:02d}")) for i in range(30)))
    peers = {r.peer for r in twilio_fake.requests}
    assert len(twilio_fake.requests) == 40
    assert len(peers) <= 30  # a client per message would open 40


async def test_find_sent_pages_through_the_list(
    sms: TwilioSms, twilio_fake: TwilioFake, twilio_contract: CheckContract
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    await sms.send(sms_to("+5491155551234", "the one we look for"))
    for i in range(105):
        await sms.send(sms_to("+5491155551234", f"other {i}"))
    await sms.send(sms_to("+5491100000000", "the one we look for"))

    found = await sms.find_sent("+5491155551234", since, "the one we look for")

    assert found is not None
    assert found.provider_id == twilio_fake.messages[0]["sid"]
    assert found.status == "sent"
    lists = [r for r in twilio_fake.requests if r.method == "GET"]
    assert len(lists) == 2  # 107 matches at 100 a page
    assert dict(lists[0].query)["To"] == "+5491155551234"
    # By creation time, client-side: a DateSent filter would hide a queued message.
    assert not any(k.startswith("DateSent") for k in dict(lists[0].query))
    for request in lists:
        twilio_contract(request)


async def test_find_sent_finds_a_message_still_queued_at_twilio(
    sms: TwilioSms, twilio_fake: TwilioFake, twilio_contract: CheckContract
) -> None:
    twilio_fake.hold_queued = True
    since = datetime.now(UTC) - timedelta(minutes=1)
    await sms.send(sms_to("+5491155551234", "still in Twilio's queue"))
    assert twilio_fake.messages[0]["date_sent"] is None

    found = await sms.find_sent("+5491155551234", since, "still in Twilio's queue")

    assert found is not None
    assert (found.provider_id, found.status) == (twilio_fake.messages[0]["sid"], "queued")
    (listed,) = [r for r in twilio_fake.requests if r.method == "GET"]
    query = dict(listed.query)
    assert (query["To"], query.get("From")) == ("+5491155551234", sms.settings.from_number)
    twilio_contract(listed)
    # Created before ``since``: not the message looked for.
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert await sms.find_sent("+5491155551234", later, "still in Twilio's queue") is None


async def test_find_sent_returns_none_when_twilio_never_got_it(sms: TwilioSms) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    await sms.send(sms_to("+5491155551234", "something else"))
    assert await sms.find_sent("+5491155551234", since, "never sent") is None
    later = datetime.now(UTC) + timedelta(days=2)
    assert await sms.find_sent("+5491155551234", later, "something else") is None
