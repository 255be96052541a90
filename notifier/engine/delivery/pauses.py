"""What may not go out now: channels and rules paused by ops, channels found down."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from notifier.clock import Clock
from notifier.config import DispatchSettings
from notifier.domain.models import CHANNELS, ChannelName
from notifier.engine.delivery.ports import PauseStore

REFRESH = timedelta(seconds=2)


class Pauses:
    """A cached view of the pauses table, refreshed every couple of seconds."""

    def __init__(self, store: PauseStore, clock: Clock, dispatch: DispatchSettings) -> None:
        self.store = store
        self.clock = clock
        self.dispatch = dispatch
        self.channels: frozenset[ChannelName] = frozenset()
        self.rules: frozenset[str] = frozenset()
        self.down: frozenset[ChannelName] = frozenset()
        self._read_at: datetime | None = None

    async def refresh(self, now: datetime, *, force: bool = False) -> None:
        """Re-read the pauses when the cached copy is older than a couple of seconds."""
        if not force and self._read_at is not None and now - self._read_at < REFRESH:
            return
        rows = await self.store.pauses(now)
        self.channels = frozenset(_channels(r.target for r in rows if r.kind == "channel"))
        self.rules = frozenset(r.target for r in rows if r.kind == "rule")
        self.down = frozenset(_channels(r.target for r in rows if r.kind == "down"))
        self._read_at = now

    async def mark_down(self, channel: ChannelName, reason: str) -> None:
        """Stop using ``channel`` for everyone until the probe time."""
        now = self.clock.now()
        until = now + self.dispatch.channel_probe
        await self.store.pause("down", channel, reason, now, until)
        self.down = self.down | {channel}


def _channels(names: Iterable[str]) -> list[ChannelName]:
    wanted = set(names)
    return [c for c in CHANNELS if c in wanted]
