"""What the routes are handed: the services of this process, and the bearer check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from notifier.engine.wiring.services import Services as Services


def services(request: Request) -> Services:
    """Return this app's services."""
    found: Services = request.app.state.services
    return found


_bearer = HTTPBearer(auto_error=False)


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse a request without the configured bearer token (401), or when none is set (503)."""
    token = services(request).settings.http.api_token
    if token is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "NOTIFIER_API_TOKEN is not set: the ingest API is closed",
        )
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_token_or_query(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """As ``require_token``, the token also accepted as ``?token=``: inbound-parse
    providers are given a URL, not a header to send."""
    if credentials is None and "token" in request.query_params:
        credentials = HTTPAuthorizationCredentials(
            scheme="Bearer", credentials=request.query_params["token"]
        )
    require_token(request, credentials)


ServicesDep = Annotated[Services, Depends(services)]
