"""What the API answers when a request fails for no fault of its own: 503 or a JSON 500.

A database that is unavailable (gone, locked past the busy timeout, out of disk, read-only
after a failover) answers 503 with Retry-After: the caller's request was fine and may be
sent again. Any other unexpected exception answers ``{"detail": "internal error"}`` with 500.
Either way one structured log line says what happened; no traceback text reaches the
caller or the log.
"""

from __future__ import annotations

import json
import traceback

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifier.engine.wiring.outages import unavailable_reason

log = structlog.get_logger("notifier.api")
RETRY_AFTER_SECONDS = 5  # long enough for a failover or a lock to clear, short for a client
FRAMES_LOGGED = 8  # the innermost frames: where it broke, not how the server got there


class FailureBoundary:
    """Turn an exception escaping the app into a JSON 503 or 500 and one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            unavailable = _log(scope, exc, answered=started)
            if started:
                # Too late to answer otherwise (a background task, a response half sent):
                # the server closes the connection, which is all a client can be told.
                return
            if unavailable:
                await _answer(send, 503, "the database is unavailable; try again later",
                              [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())])  # fmt: skip
            else:
                await _answer(send, 500, "internal error", [])


def _log(scope: Scope, exc: Exception, *, answered: bool) -> bool:
    """Log the failure as one structured line; return True when the database is at fault."""
    where = {"method": scope.get("method"), "path": scope.get("path"), "answered": answered}
    reason = unavailable_reason(exc)
    if reason is not None:
        log.error("api.unavailable", error_type=type(exc).__name__, reason=reason, **where)
        return True
    frames = [
        {"file": f.filename, "line": f.lineno, "function": f.name}
        for f in traceback.extract_tb(exc.__traceback__)[-FRAMES_LOGGED:]
    ]
    text = str(exc).strip()
    log.error(
        "api.internal_error",
        error_type=type(exc).__name__,
        # The first line only: SQLAlchemy appends the statement and its parameters.
        error=text.splitlines()[0][:200] if text else "",
        frames=frames,
        **where,
    )
    return False


async def _answer(send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})
