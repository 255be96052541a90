"""Ingest under /v1: customers, interactions and promises (bearer token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status

from notifier.api.deps import ServicesDep, require_token
from notifier.domain.limits import MAX_ID
from notifier.domain.models import PromiseStatus, Source
from notifier.engine.ingest.ledger_service import new_external_ref
from notifier.schemas import (
    CustomerIn,
    Identifier,
    InteractionIn,
    OpaqueId,
    PromiseIn,
    RescheduleIn,
)
from notifier.views import (
    customer_view,
    event_view,
    forget_view,
    promise_view,
    timeline_view,
)

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["ledger"])
CustomerPath = Annotated[Identifier, Path(description="The customer's external id")]
PromisePath = Annotated[int, Path(ge=1, le=MAX_ID, description="The promise's id")]
# Creating or updating takes no email-shaped id: ids are opaque references, not addresses.
NewCustomerPath = Annotated[OpaqueId, Path(description="The customer's external id")]


@router.put("/customers/{customer_id}")
async def put_customer(
    customer_id: NewCustomerPath, body: CustomerIn, response: Response, svc: ServicesDep
) -> dict[str, Any]:
    """Create (201) or update (200) a customer; fields left out keep their values."""
    customer, created = await svc.ledger.put_customer(body.to_data(customer_id))
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return customer_view(customer)


@router.get("/customers/{customer_id}")
async def get_customer(customer_id: CustomerPath, svc: ServicesDep) -> dict[str, Any]:
    """The customer, with their last used channel."""
    return customer_view(await svc.ledger.customer(customer_id))


@router.delete("/customers/{customer_id}")
async def forget_customer(customer_id: CustomerPath, svc: ServicesDep) -> dict[str, Any]:
    """Forget the customer: erase names, addresses and message bodies (LGPD, Ley 25.326)."""
    return forget_view(await svc.ledger.forget(customer_id))


@router.get("/customers/{customer_id}/timeline")
async def customer_timeline(customer_id: CustomerPath, svc: ServicesDep) -> list[dict[str, Any]]:
    """Promises, interactions, notifications and their events, newest first."""
    return timeline_view(await svc.ledger.timeline(customer_id))


@router.post("/interactions", status_code=status.HTTP_201_CREATED)
async def add_interaction(body: InteractionIn, svc: ServicesDep) -> dict[str, Any]:
    """Record a touchpoint; an inbound one sets the customer's last used channel."""
    new_id = await svc.ledger.add_interaction(body.to_data(svc.clock.now()))
    return {"id": new_id, **body.model_dump(mode="json"), "at": body.at or svc.clock.now()}


@router.post("/promises")
async def put_promise(body: PromiseIn, response: Response, svc: ServicesDep) -> dict[str, Any]:
    """Create (201) or update (200) a promise by external_ref; a new due_at reschedules it."""
    promise, created = await svc.ledger.put_promise(body.to_data(new_external_ref()), Source.API)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return promise_view(promise)


@router.get("/promises/{promise_id}")
async def get_promise(promise_id: PromisePath, svc: ServicesDep) -> dict[str, Any]:
    """The promise and its events, oldest first."""
    promise = await svc.ledger.promise(promise_id)
    events = await svc.ledger.promise_events(promise_id)
    return {**promise_view(promise), "events": [event_view(e) for e in events]}


@router.get("/promises")
async def list_promises(
    svc: ServicesDep,
    customer: Identifier | None = None,
    status_: Annotated[PromiseStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> list[dict[str, Any]]:
    """Promises in id order; page with ``after`` (the last id seen)."""
    found = await svc.ledger.list_promises(
        customer_id=customer, status=status_, limit=limit, after_id=after
    )
    return [promise_view(p) for p in found]


@router.post("/promises/{promise_id}/keep")
async def keep_promise(promise_id: PromisePath, svc: ServicesDep) -> dict[str, Any]:
    """Mark the promise kept."""
    return promise_view(await svc.ledger.keep(promise_id, Source.API))


@router.post("/promises/{promise_id}/cancel")
async def cancel_promise(promise_id: PromisePath, svc: ServicesDep) -> dict[str, Any]:
    """Mark the promise cancelled."""
    return promise_view(await svc.ledger.cancel(promise_id, Source.API))


@router.post("/promises/{promise_id}/reschedule")
async def reschedule_promise(
    promise_id: PromisePath, body: RescheduleIn, svc: ServicesDep
) -> dict[str, Any]:
    """Move the deadline: recorded as rescheduled, counted as broken, watched afresh."""
    promise = await svc.ledger.reschedule(promise_id, body.due_at, body.window_start, Source.API)
    return promise_view(promise)
