"""Outbox rows and jitter for the pure tables of what follows an outcome."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from notifier.domain.models import CustomerId, NotificationId, NotificationStatus, PromiseId
from notifier.domain.outbox import Notification

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
ANA = CustomerId("c-1")


class Ceiling(random.Random):
    """Jitter that always lands on the ceiling, so waits are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


def sending_row(nid: int = 1, attempts: int = 0, **values: Any) -> Notification:
    """A late notice to Ana, ``sending`` on her last used channel, email as its fallback."""
    n = Notification(
        id=NotificationId(nid), dedupe_key=f"r:{nid}:1:0", customer_id=ANA,
        promise_id=PromiseId(nid), rule_id="r", message="delivery_late", stage="late", step=0,
        priority="normal", audience="customer", channel_choice="last_used", fallback=("email",),
        failed_channels=frozenset(), status=NotificationStatus.SENDING, not_before=NOW,
        attempts=attempts, deadline_version=1, quiet_hours=None, created_at=NOW,
    )  # fmt: skip
    return replace(n, **values)
