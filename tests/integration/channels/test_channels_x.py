"""X direct messages through tweepy's async client against a local X API."""

from __future__ import annotations

import json
from datetime import timedelta

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
from notifier.channels.x_dm import OAuth1Credentials, XDirectMessage, XSettings
from notifier.channels.x_oauth2 import OAuth2Token
from tests.fakes.http_server import Failure
from tests.fakes.x_server import APP_BEARER, XFake
from tests.integration.channels.conftest import CheckContract, oauth1


def dm(to: str = "987654321") -> OutboundMessage:
    return OutboundMessage(
        dedupe_key="rule:1:1:0",
        channel="x",
        to=to,
        text="Hola Ana, tu pedido 1234 se retrasa. Perdón.",
        message_name="delivery_late",
        locale="es",
    )


async def test_dm_is_signed_with_oauth1_and_matches_the_contract(
    x_dm: XDirectMessage, x_fake: XFake, x_contract: CheckContract
) -> None:
    receipt = await x_dm.send(dm())

    [request] = x_fake.requests
    assert (request.method, request.path) == ("POST", "/2/dm_conversations/with/987654321/messages")
    assert request.headers["Authorization"].startswith("OAuth ")
    assert json.loads(request.body) == {"text": "Hola Ana, tu pedido 1234 se retrasa. Perdón."}
    assert receipt.provider_id == x_fake.sent[0]["dm_event_id"]
    assert receipt.detail["dm_conversation_id"] == "1000-987654321"
    x_contract(request)


WIRE = [
    pytest.param("403403", PermanentError, Reason.CANNOT_DM, id="cannot-dm-this-user"),
    pytest.param("429429", ThrottledError, Reason.RATE_LIMITED, id="rate-limited"),
    pytest.param("503503", TransientError, Reason.PROVIDER_ERROR, id="server-down"),
]


@pytest.mark.parametrize(("to", "kind", "reason"), WIRE)
async def test_wire_answers_map_to_kinds(
    x_dm: XDirectMessage, to: str, kind: type[SendError], reason: Reason
) -> None:
    with pytest.raises(SendError) as caught:
        await x_dm.send(dm(to))
    assert type(caught.value) is kind
    assert caught.value.reason == reason


async def test_rate_limit_waits_until_the_reset(x_dm: XDirectMessage) -> None:
    with pytest.raises(TransientError) as caught:
        await x_dm.send(dm("429429"))
    assert caught.value.retry_after is not None
    assert timedelta(seconds=50) < caught.value.retry_after <= timedelta(seconds=60)


async def test_forced_server_error_is_transient(x_dm: XDirectMessage, x_fake: XFake) -> None:
    x_fake.failures.append(Failure(status=500, message="Internal Error"))
    with pytest.raises(TransientError):
        await x_dm.send(dm())
    assert (await x_dm.send(dm())).provider_id


async def test_bad_signature_means_channel_down(x_fake: XFake) -> None:
    wrong = OAuth1Credentials(x_fake.consumer_key, "not-the-secret", x_fake.access_token, "x")
    channel = XDirectMessage(XSettings(oauth1=wrong, base_url=x_fake.url))
    try:
        with pytest.raises(ChannelDownError) as caught:
            await channel.send(dm())
    finally:
        await channel.aclose()
    assert caught.value.reason == Reason.AUTH_FAILED
    assert "not-the-secret" not in str(caught.value)


async def test_oauth2_user_token_is_refreshed_when_refused(
    x_fake: XFake, x_contract: CheckContract
) -> None:
    x_fake.refresh_tokens.add("refresh-0")
    token = OAuth2Token("expired-user-token", "test-client-id", "refresh-0", "client-secret")
    channel = XDirectMessage(XSettings(oauth2=token, base_url=x_fake.url))
    try:
        first = await channel.send(dm())
        second = await channel.send(dm())
    finally:
        await channel.aclose()
    assert first.provider_id and second.provider_id
    paths = [r.path for r in x_fake.requests]
    assert paths.count("/2/oauth2/token") == 1
    dms = [r for r in x_fake.requests if r.path.startswith("/2/dm_conversations")]
    assert dms[0].headers["Authorization"] == "Bearer expired-user-token"
    assert dms[1].headers["Authorization"].startswith("Bearer user-token-")
    assert dms[2].headers["Authorization"] == dms[1].headers["Authorization"]
    refresh = next(r for r in x_fake.requests if r.path == "/2/oauth2/token")
    assert refresh.headers["Authorization"].startswith("Basic ")
    assert "refresh_token=refresh-0" in refresh.body.decode()
    x_contract(dms[1])


async def test_app_only_bearer_means_channel_down(x_fake: XFake) -> None:
    token = OAuth2Token(APP_BEARER, "test-client-id", "no-such-refresh")
    channel = XDirectMessage(XSettings(oauth2=token, base_url=x_fake.url))
    try:
        with pytest.raises(ChannelDownError):
            await channel.send(dm())
    finally:
        await channel.aclose()
    assert x_fake.sent == []


async def test_slow_and_dropped_answers_are_transient(x_fake: XFake) -> None:
    channel = XDirectMessage(
        XSettings(oauth1=oauth1(x_fake), base_url=x_fake.url, timeout=timedelta(milliseconds=200))
    )
    x_fake.failures.append(Failure(mode="slow", delay_ms=5000))
    x_fake.failures.append(Failure(mode="drop"))
    try:
        with pytest.raises(TransientError) as slow:
            await channel.send(dm())
        with pytest.raises(TransientError) as dropped:
            await channel.send(dm())
    finally:
        await channel.aclose()
    assert slow.value.reason == Reason.TIMEOUT
    assert dropped.value.reason == Reason.CONNECTION
