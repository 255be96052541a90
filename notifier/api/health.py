"""Liveness and readiness, open to the orchestrator without a token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from notifier.api.deps import ServicesDep
from notifier.engine.wiring.monitor import Health

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers (liveness: it says nothing of the database or the scan)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: ServicesDep, response: Response) -> dict[str, Any]:
    """Ready when the store answers within the probe's bound, the scan has not failed on its
    last ``NOTIFIER_READY_MAX_SCAN_FAILURES`` ticks and outcome writes go through.

    Rule-file problems show here without un-readying: the last good set keeps serving.
    """
    if svc.health is None:  # the API without a daemon: only the database can be wrong
        svc.health = Health.from_settings(svc.settings.scan)
    health = svc.health
    database = await health.probe(svc.store)
    reasons = health.reasons()
    if not svc.ready:
        reasons.insert(0, "the daemon is not ready")
    if reasons:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {
        "status": "not ready" if reasons else "ready",
        "database": "ok" if database is None else f"error: {database}",
        "problems": svc.problems,
        "reasons": reasons,
        **health.view(),
    }
