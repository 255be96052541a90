"""Incidents under /v1 (bearer token): the crisis playbook for upstream systems.

The same commands as `notifier incident ...` (``engine/crisis/commands.py``), so the same
checks and words: a refused input is 422 naming the JSON field, an unknown incident 404,
a command the incident's state forbids (resolving it twice) 409.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Response, status

from notifier.api.deps import ServicesDep, require_token
from notifier.domain.errors import InvalidInputError
from notifier.domain.incidents import IncidentConflictError, IncidentError
from notifier.domain.limits import MAX_ID
from notifier.engine.crisis.commands import Incidents
from notifier.engine.crisis.texts import Texts
from notifier.incident_schemas import (
    IncidentActionIn,
    IncidentIn,
    IncidentResolveIn,
    IncidentUpdateIn,
)
from notifier.incident_views import incident_view

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["incidents"])
IncidentPath = Annotated[int, Path(ge=1, le=MAX_ID, description="The incident's id")]
T = TypeVar("T")
# The CLI's options as the JSON fields they are here; the keyed ones take ``.<key>``.
_FIELDS = {
    "--title": "title", "--title-locale": "titles", "--message": "message",
    "--message-locale": "messages", "--match": "match", "--estimate": "estimate",
    "--status": "status", "--updates-on": "updates_on",
}  # fmt: skip


def field_of(exc: IncidentError) -> str:
    """Return the JSON field an incident command refused: ``titles.en``, ``match.kind``."""
    name = _FIELDS.get(exc.option or "", "body")
    return f"{name}.{exc.key}" if exc.key and name in ("titles", "messages", "match") else name


async def _checked(call: Awaitable[T]) -> T:
    """Await ``call``; a refused input becomes InvalidInputError (422 naming the field)."""
    try:
        return await call
    except IncidentConflictError:
        raise  # 409, by the app's ConflictError handler
    except IncidentError as exc:
        raise InvalidInputError(field_of(exc), exc.reason) from None


async def _view(incidents: Incidents, incident_id: int) -> dict[str, Any]:
    shown = await incidents.show(incident_id)
    return incident_view(shown.incident, shown.counts, shown.history, shown.detections)


def _texts(default: str | None, locales: dict[str, str], option: str) -> Texts:
    return Texts(default, (), option, locales)


@router.post("/incidents", status_code=status.HTTP_201_CREATED)
async def open_incident(body: IncidentIn, response: Response, svc: ServicesDep) -> dict[str, Any]:
    """Open an incident over the ``match`` segment: each affected customer is told once."""
    incidents = svc.incidents
    incident_id = await _checked(
        incidents.open(
            titles=_texts(body.title, body.titles, "--title"),
            messages=_texts(body.message, body.messages, "--message"),
            severity=body.severity, match=body.match, estimate=body.estimate, by=body.by,
            through_quiet_hours=body.through_quiet_hours, updates_on=body.updates_on,
        )
    )  # fmt: skip
    response.headers["Location"] = f"/v1/incidents/{incident_id}"
    return await _view(incidents, incident_id)


@router.get("/incidents")
async def list_incidents(svc: ServicesDep) -> list[dict[str, Any]]:
    """Every incident, those waiting for confirmation first, then the newest."""
    return [incident_view(s.incident, s.counts) for s in await svc.incidents.list()]


@router.get("/incidents/{incident_id}")
async def get_incident(incident_id: IncidentPath, svc: ServicesDep) -> dict[str, Any]:
    """The incident: counts (by channel too) and its history."""
    return await _view(svc.incidents, incident_id)


@router.post("/incidents/{incident_id}/updates", status_code=status.HTTP_201_CREATED)
async def update_incident(
    incident_id: IncidentPath, body: IncidentUpdateIn, svc: ServicesDep
) -> dict[str, Any]:
    """Publish an update (latest-wins): customers not told the last one get only this."""
    incidents = svc.incidents
    step = await _checked(
        incidents.update(
            incident_id, messages=_texts(body.message, body.messages, "--message"),
            status=body.status, estimate=body.estimate, by=body.by,
        )
    )  # fmt: skip
    return {**await _view(incidents, incident_id), "step": step}


@router.post("/incidents/{incident_id}/resolve")
async def resolve_incident(
    incident_id: IncidentPath, svc: ServicesDep, body: IncidentResolveIn | None = None
) -> dict[str, Any]:
    """Resolve: everyone who was told gets the resolution; the rules take over again."""
    incidents = svc.incidents
    body = body or IncidentResolveIn()
    messages = _texts(body.message, body.messages, "--message")
    await _checked(incidents.resolve(incident_id, messages=messages, by=body.by))
    return await _view(incidents, incident_id)


def _action(verb: str, summary: str) -> None:
    async def act(
        incident_id: IncidentPath, svc: ServicesDep, body: IncidentActionIn | None = None
    ) -> dict[str, Any]:
        incidents = svc.incidents
        by = (body or IncidentActionIn()).by
        await _checked(getattr(incidents, verb)(incident_id, by))
        return await _view(incidents, incident_id)

    act.__doc__ = summary
    router.add_api_route(
        f"/incidents/{{incident_id}}/{verb}", act, methods=["POST"], name=f"{verb}_incident"
    )


for _verb, _summary in (
    ("confirm", "Confirm a proposed incident: its customers are told now."),
    ("dismiss", "Dismiss a proposed incident: nobody is told; it is recorded."),
    ("pause", "Stop the fan-out at once (the kill switch): what is pending waits."),
    ("resume", "Continue a paused fan-out."),
):
    _action(_verb, _summary)
