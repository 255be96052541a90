"""Notifications under /v1 (bearer token): why each one went out, or did not."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from notifier.api.deps import ServicesDep, require_token
from notifier.domain.limits import MAX_ID
from notifier.domain.models import NotificationStatus
from notifier.schemas import Identifier
from notifier.views import notification_line_view, notification_view

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["notifications"])


@router.get("/notifications/{notification_id}")
async def get_notification(
    notification_id: Annotated[int, Path(ge=1, le=MAX_ID)], svc: ServicesDep
) -> dict[str, Any]:
    """The notification and its history: rule, routing, attempts, answers, each with a reason."""
    return notification_view(await svc.reporting.notification(notification_id))


@router.get("/notifications")
async def list_notifications(
    svc: ServicesDep,
    customer: Identifier | None = None,
    status_: Annotated[NotificationStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> list[dict[str, Any]]:
    """Notifications newest first; page with ``before`` (the last id seen)."""
    found = await svc.reporting.notifications(
        customer_id=customer, status=status_, limit=limit, before_id=before
    )
    return [notification_line_view(r) for r in found]
