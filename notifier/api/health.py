"""Liveness and readiness, open to the orchestrator without a token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from notifier.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: ServicesDep, response: Response) -> dict[str, Any]:
    """Ready when the store answers; rule-file problems show here without un-readying."""
    try:
        async with svc.store.reading() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # any driver error means not ready; say which
        database = f"error: {type(exc).__name__}"
    ready = svc.ready and database == "ok"
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {
        "status": "ready" if ready else "not ready",
        "database": database,
        "problems": svc.problems,
    }
