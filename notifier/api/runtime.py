"""What the running daemon adds to the API: metrics and, in test mode, the clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier.api.deps import ServicesDep, require_token
from notifier.domain.durations import DurationError, parse_positive_duration
from notifier.observability import Metrics

router = APIRouter(tags=["runtime"])


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process."""
    found: Metrics | None = getattr(request.app.state, "metrics", None)
    if found is None:
        return Response("", media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(found.registry), media_type=CONTENT_TYPE_LATEST)


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    advance: Annotated[str, Field(examples=["2h"])]

    @field_validator("advance")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            parse_positive_duration(value)
        except DurationError as exc:
            raise ValueError(str(exc)) from None
        return value


@router.post("/v1/test/clock", dependencies=[Depends(require_token)])
async def advance_clock(body: ClockAdvance, svc: ServicesDep) -> dict[str, str]:
    """Move the daemon's clock forward (NOTIFIER_TEST_MODE=1 only)."""
    if not svc.settings.test_mode or svc.advance_clock is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not in test mode")
    svc.advance_clock(parse_positive_duration(body.advance))
    return {"now": svc.clock.now().isoformat()}
