"""What ``/readyz`` answers: the monitor's probe of the store, its streaks, the daemon's state.

Rule-file problems show without un-readying: the last good set keeps serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notifier.engine.monitor import Health
from notifier.store.store import Store


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the process is ready, and the JSON that says why (or why not)."""

    ready: bool
    view: dict[str, Any]


async def check_readiness(
    health: Health, store: Store, *, daemon_ready: bool, problems: list[str]
) -> Readiness:
    """Ready when the store answers within the probe's bound, the scan has not failed on its
    last ``NOTIFIER_READY_MAX_SCAN_FAILURES`` ticks and outcome writes go through.
    """
    database = await health.probe(store)
    reasons = health.reasons()
    if not daemon_ready:
        reasons.insert(0, "the daemon is not ready")
    view = {
        "status": "not ready" if reasons else "ready",
        "database": "ok" if database is None else f"error: {database}",
        "problems": problems,
        "reasons": reasons,
        **health.view(),
    }
    return Readiness(not reasons, view)
