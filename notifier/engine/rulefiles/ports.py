"""What a reload asks of the store: publish its result, make unsettled promises due again.

The concrete store satisfies it (mypy checks it where the daemon builds the reloader).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from notifier.domain.published import RulesState


class ReloadStore(Protocol):
    """The reloader: the rules state for ``notifier status``, the recheck after a new set."""

    async def publish(self, fact: RulesState, now: datetime) -> None: ...

    async def recheck_unsettled(self, now: datetime, batch: int = 5000) -> int: ...
