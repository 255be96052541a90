"""An OAuth 2.0 user token for X, refreshed before it expires (X issues them for about 2 h)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from notifier.channels.base import ChannelDownError, Reason, TransientError

TOKEN_PATH = "/2/oauth2/token"
# Refresh this long before the expiry X announced, so no send races the deadline.
MARGIN = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class OAuth2Token:
    access_token: str
    client_id: str
    refresh_token: str
    client_secret: str | None = None  # confidential clients authenticate the refresh


class TokenRefresher:
    """Holds the current user token and trades the refresh token for a new one when due.

    X rotates refresh tokens: the new one lives in this process only, so after a restart
    the configured refresh token must still be unused (docs/channels.md says how).
    """

    def __init__(self, token: OAuth2Token, session: aiohttp.ClientSession, base_url: str) -> None:
        self._access = token.access_token
        self._refresh = token.refresh_token
        self._client_id = token.client_id
        self._client_secret = token.client_secret
        self._session = session
        self._url = base_url.rstrip("/") + TOKEN_PATH
        # The configured token's expiry is unknown: it is used until X refuses it.
        self._expires_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def token(self, now: datetime) -> str:
        """Return a user token valid at ``now``, refreshing it first when it is about to expire."""
        if self._expires_at is not None and now >= self._expires_at - MARGIN:
            return await self.refresh(stale=self._access)
        return self._access

    async def refresh(self, stale: str | None = None) -> str:
        """Trade the refresh token for a new user token and return it."""
        async with self._lock:
            if stale is not None and self._access != stale:
                return self._access  # another send refreshed it while this one waited
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self._refresh,
                "client_id": self._client_id,
            }
            headers = (
                {"Authorization": _basic(self._client_id, self._client_secret)}
                if self._client_secret
                else {}
            )
            try:
                async with self._session.post(self._url, data=form, headers=headers) as response:
                    body = await response.json(content_type=None)
                    status = response.status
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                raise TransientError(Reason.CONNECTION, f"token refresh: {exc}") from None
            if status >= 500:
                raise TransientError(Reason.PROVIDER_ERROR, f"token refresh: HTTP {status}")
            if status != 200 or not isinstance(body, dict) or "access_token" not in body:
                detail = body.get("error_description", "") if isinstance(body, dict) else ""
                raise ChannelDownError(
                    Reason.AUTH_FAILED, f"X refused the refresh token: HTTP {status} {detail}"
                )
            self._access = str(body["access_token"])
            self._refresh = str(body.get("refresh_token", self._refresh))
            expires_in = int(body.get("expires_in", 7200))
            self._expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
            return self._access


def _basic(client_id: str, secret: str) -> str:
    # A confidential client authenticates the refresh with HTTP Basic (RFC 6749, 2.3.1).
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
