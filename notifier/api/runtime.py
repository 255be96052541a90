"""What the running daemon adds to the API: metrics and, in test mode, the clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier.api.deps import ServicesDep, require_token
from notifier.domain.durations import DurationError, format_duration, parse_positive_duration
from notifier.domain.errors import InvalidInputError
from notifier.domain.limits import LATEST, MAX_CLOCK_ADVANCE, WINDOW
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
            step = parse_positive_duration(value)
        except DurationError as exc:
            raise ValueError(str(exc)) from None
        except OverflowError:  # more days than a timedelta holds
            step = MAX_CLOCK_ADVANCE * 2
        if step > MAX_CLOCK_ADVANCE:
            limit = format_duration(MAX_CLOCK_ADVANCE)
            raise ValueError(f"{value!r} is too far: advance at most {limit} at a time")
        return value


@router.post("/v1/test/clock", dependencies=[Depends(require_token)])
async def advance_clock(body: ClockAdvance, svc: ServicesDep) -> dict[str, str]:
    """Move the daemon's clock forward (NOTIFIER_TEST_MODE=1 only)."""
    if not svc.settings.clock.test_mode or svc.advance_clock is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not in test mode")
    step = parse_positive_duration(body.advance)
    if svc.clock.now() + step >= LATEST:
        raise InvalidInputError("advance", f"the clock would leave {WINDOW}")
    svc.advance_clock(step)
    return {"now": svc.clock.now().isoformat()}
