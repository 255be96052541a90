"""The CRM's webhook: one signed POST an event, its answer as the relay reads it.

The body goes exactly as stored (the bytes signed are the bytes sent); the signature's
``t`` is the machine's wall clock, the one the receiver compares with, not the process
clock a test or a rehearsal may shift.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from notifier.channels.twilio_api import parse_retry_after
from notifier.config.groups import EventSettings
from notifier.domain.crm_events import SIGNATURE_HEADER, signature


@dataclass(frozen=True, slots=True)
class PostAnswer:
    """What came back: an HTTP status, or none (``status`` 0) and why."""

    status: int
    error: str | None = None
    retry_after: timedelta | None = None


class CrmWebhook:
    """POSTs events to NOTIFIER_EVENTS_URL over one pooled session."""

    def __init__(self, s: EventSettings, wall: Callable[[], float] = time.time) -> None:
        if s.events_url is None or s.events_secret is None:
            raise ValueError("NOTIFIER_EVENTS_URL and NOTIFIER_EVENTS_SECRET are both needed")
        self.url = s.events_url
        self._secret = s.events_secret
        self._timeout = aiohttp.ClientTimeout(total=s.events_timeout.total_seconds())
        self._limit = s.events_concurrency
        self._wall = wall
        self._session: aiohttp.ClientSession | None = None

    async def post(self, body: str) -> PostAnswer:
        """POST ``body`` signed now; never raises for the network or the receiver."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit), timeout=self._timeout
            )
        data = body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "notifier-events/1",
            SIGNATURE_HEADER: signature(self._secret.get_secret_value(), data, int(self._wall())),
        }
        try:
            async with self._session.post(
                self.url, data=data, headers=headers, allow_redirects=False
            ) as response:
                text = (await response.text(errors="replace"))[:200]
                retry = parse_retry_after(response.headers.get("Retry-After"))
                error = None if response.status < 300 else f"HTTP {response.status}: {text}"
                return PostAnswer(response.status, error, retry)
        except TimeoutError:
            return PostAnswer(0, "timed out")
        except (aiohttp.ClientError, OSError) as exc:
            return PostAnswer(0, f"{type(exc).__name__}: {exc}"[:200])

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None
