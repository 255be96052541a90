"""X direct messages through tweepy's async client, with user-context credentials only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import tweepy
from tweepy.asynchronous import AsyncClient
from yarl import URL

from notifier.channels.base import (
    ChannelDownError,
    OutboundMessage,
    PermanentError,
    Reason,
    Receipt,
    SendError,
    ThrottledError,
    TransientError,
)
from notifier.channels.x_oauth2 import OAuth2Token, TokenRefresher
from notifier.domain.models import ChannelName

X_API = "https://api.twitter.com"  # the literal tweepy builds every URL on


@dataclass(frozen=True, slots=True)
class OAuth1Credentials:
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str


@dataclass(frozen=True, slots=True)
class XSettings:
    oauth1: OAuth1Credentials | None = None
    oauth2: OAuth2Token | None = None
    base_url: str | None = None
    timeout: timedelta = timedelta(seconds=15)
    pool_size: int = 100


class RebasedSession:
    """Stands in for tweepy's aiohttp session and sends its requests to ``base_url``.

    tweepy writes ``https://api.twitter.com`` into every URL; this rewrites that prefix
    and delegates to one pooled ClientSession.
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str | URL, **kwargs: Any) -> Any:
        """Return the ClientSession request for ``url`` moved onto ``base_url``."""
        text = str(url)
        if text.startswith(X_API):
            text = self.base_url + text[len(X_API) :]
        # tweepy hands an already-encoded URL when it signs with OAuth 1.0a.
        target = URL(text, encoded=True) if isinstance(url, URL) else text
        return self.session.request(method, target, **kwargs)

    async def close(self) -> None:
        """Close the pooled connections."""
        await self.session.close()


def classify(status: int, problem: Mapping[str, Any], text: str, now: datetime) -> SendError:
    """Return the error an X API answer (status, problem JSON) means for us."""
    kind = str(problem.get("type", ""))
    if status == 401:
        return ChannelDownError(Reason.AUTH_FAILED, text, "401")
    if status == 403 and ("unsupported-authentication" in kind or "client-forbidden" in kind):
        # An app-only token or an app outside a project: our setup, not the recipient.
        return ChannelDownError(Reason.MISCONFIGURED, text, "403")
    if status == 403:
        return PermanentError(Reason.CANNOT_DM, text, "403")
    if status == 429:
        reset = problem.get("_reset")
        retry = None
        if isinstance(reset, int):
            try:
                retry = max(datetime.fromtimestamp(reset, UTC) - now, timedelta(0))
            except (OverflowError, OSError, ValueError):  # a reset no clock can hold
                retry = None
        return ThrottledError(Reason.RATE_LIMITED, text, "429", retry)
    if status >= 500:
        return TransientError(Reason.PROVIDER_ERROR, text, str(status))
    if status == 404:
        return PermanentError(Reason.INVALID_ADDRESS, text, "404")
    return PermanentError(Reason.REJECTED, text, str(status))


class XDirectMessage:
    """Sends a DM to an X user id; never posts anything public."""

    name: ChannelName = "x"

    def __init__(self, settings: XSettings) -> None:
        self.settings = settings
        self._client: AsyncClient | None = None
        self._refresher: TokenRefresher | None = None

    def _ensure_client(self) -> AsyncClient:
        if self._client is not None:
            return self._client
        s = self.settings
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.pool_size),
            timeout=aiohttp.ClientTimeout(total=s.timeout.total_seconds()),
        )
        base = (s.base_url or X_API).rstrip("/")
        if s.oauth1 is not None:
            o = s.oauth1
            client = AsyncClient(
                consumer_key=o.consumer_key,
                consumer_secret=o.consumer_secret,
                access_token=o.access_token,
                access_token_secret=o.access_token_secret,
                return_type=dict,
            )
        elif s.oauth2 is not None:
            self._refresher = TokenRefresher(s.oauth2, session, base)
            client = AsyncClient(bearer_token=s.oauth2.access_token, return_type=dict)
        else:
            raise ChannelDownError(Reason.MISCONFIGURED, "no user-context X credentials")
        client.session = RebasedSession(session, base)
        self._client = client
        return client

    async def send(self, message: OutboundMessage) -> Receipt:
        """Send ``message.text`` as a DM to the user id ``message.to``."""
        client = self._ensure_client()
        try:
            if self._refresher is None:
                answer = await self._post(client, message, None)
            else:
                token = await self._refresher.token(datetime.now(UTC))
                try:
                    answer = await self._post(client, message, token)
                except ChannelDownError:
                    # A user token revoked or expired early: refresh once, then believe X.
                    token = await self._refresher.refresh(stale=token)
                    answer = await self._post(client, message, token)
        except TimeoutError:
            raise TransientError(Reason.TIMEOUT, "no answer from X in time") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientError(Reason.CONNECTION, f"{type(exc).__name__}: {exc}") from None
        except SendError:
            raise
        except Exception as exc:
            # Anything else from the SDK (an answer it cannot read, say): retrying may help.
            raise TransientError(Reason.PROVIDER_ERROR, f"{type(exc).__name__}: {exc}") from None
        data = answer.get("data", {}) if isinstance(answer, dict) else {}
        return Receipt(
            provider_id=str(data.get("dm_event_id", "")),
            status="sent",
            detail={"dm_conversation_id": str(data.get("dm_conversation_id", ""))},
        )

    async def _post(self, client: AsyncClient, message: OutboundMessage, bearer: str | None) -> Any:
        """POST the DM: OAuth 1.0a signed when ``bearer`` is None, else the user token."""
        try:
            if bearer is None:
                return await client.create_direct_message(
                    participant_id=message.to, text=message.text, user_auth=True
                )
            # Every send wants the newest token, so sharing it on the client is safe.
            client.bearer_token = bearer
            return await client.create_direct_message(
                participant_id=message.to, text=message.text, user_auth=False
            )
        except tweepy.HTTPException as exc:
            raise await _translate(exc) from None
        except aiohttp.ClientResponseError as exc:
            # An error answer that was not JSON: tweepy fails reading it.
            raise classify(exc.status, {}, exc.message, datetime.now(UTC)) from None

    async def aclose(self) -> None:
        """Close the pooled HTTP connections."""
        if self._client is not None:
            session = self._client.session
            self._client = None
            await session.close()


async def _translate(exc: tweepy.HTTPException) -> SendError:
    response = exc.response
    problem: dict[str, Any] = {}
    try:
        body = await response.json(content_type=None)
        if isinstance(body, dict):
            problem = body
    except (ValueError, aiohttp.ClientError):
        pass
    if isinstance(exc, tweepy.TooManyRequests) and exc.reset_time is not None:
        problem["_reset"] = int(exc.reset_time)
    text = "; ".join(str(m) for m in exc.api_messages) or str(
        problem.get("title") or f"HTTP {response.status}"
    )
    return classify(int(response.status), problem, text, datetime.now(UTC))
