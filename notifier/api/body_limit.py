"""The request body limit (NOTIFIER_MAX_BODY_BYTES): 413 before more than that is read.

An ASGI middleware, so that it holds for every route alike, the Twilio webhooks included:
they read the form before they can check its signature, and an unsigned 300 MB form must
not cost 300 MB. A declared Content-Length over the limit is refused before reading a byte;
a chunked body is counted as it streams and refused the moment it passes the limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised into the app when its request body passes the limit (the 413 is already sent)."""


class BodyLimit:
    """Answer 413 to any request whose body is larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, self.max_bytes)
            return
        guard = _Guard(receive, send, self.max_bytes)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            # Whatever the app made of BodyTooLarge (FastAPI turns it into a 400 it cannot
            # send any more), the caller already has its 413.
            if not guard.refused:
                raise


class _Guard:
    """The app's receive and send, counting body bytes and muting the app after a 413."""

    def __init__(self, receive: Receive, send: Send, max_bytes: int) -> None:
        self._receive = receive
        self._send = send
        self.max_bytes = max_bytes
        self.received = 0
        self.started = False
        self.refused = False

    async def receive(self) -> Message:
        if self.refused:
            raise BodyTooLarge(self.max_bytes)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                if self.started:  # too late for a 413: drop the request instead
                    raise BodyTooLarge(self.max_bytes)
                self.refused = True
                await _refuse(self._send, self.max_bytes)
                raise BodyTooLarge(self.max_bytes)
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed one before we see it
    return None


async def _refuse(send: Send, max_bytes: int) -> None:
    body = json.dumps(
        {"detail": f"request body larger than {max_bytes} bytes (NOTIFIER_MAX_BODY_BYTES)"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
