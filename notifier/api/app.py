"""The FastAPI application: errors as one clear JSON shape, the routers, OpenAPI docs."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from notifier import __version__
from notifier.api import (
    email_webhooks,
    health,
    incidents,
    ingest,
    notifications,
    runtime,
    unsubscribe,
    webhooks,
)
from notifier.api.body_limit import BodyLimit
from notifier.api.deps import Services
from notifier.api.failures import FailureBoundary
from notifier.domain.errors import ConflictError, InvalidInputError, NotFoundError


def create_app(svc: Services) -> FastAPI:
    """Return the app serving ``svc``; the daemon adds its routes to the same app."""
    app = FastAPI(
        title="notifier",
        version=__version__,
        description="Keeps the ledger of promises to customers and tells them first.",
    )
    app.state.services = svc
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(notifications.router)
    app.include_router(incidents.router)
    app.include_router(webhooks.router)
    app.include_router(email_webhooks.router)
    app.include_router(unsubscribe.router)
    app.include_router(unsubscribe.admin)
    app.include_router(runtime.router)
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(NotFoundError, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(ConflictError, _conflict)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidInputError, _invalid_input)  # type: ignore[arg-type]
    # The last added runs first: the boundary sees whatever the body limit lets through.
    app.add_middleware(BodyLimit, max_bytes=svc.settings.http.max_body_bytes)
    app.add_middleware(FailureBoundary)
    return app


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"field": _field(tuple(e["loc"])), "message": str(e["msg"]).removeprefix("Value error, ")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)


async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)


async def _invalid_input(_: Request, exc: InvalidInputError) -> JSONResponse:
    detail = [{"field": exc.field, "message": exc.reason}]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
