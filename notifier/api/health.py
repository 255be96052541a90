"""Liveness and readiness, open to the orchestrator without a token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from notifier.api.deps import ServicesDep

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
    found = await svc.readiness()
    if not found.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return found.view
