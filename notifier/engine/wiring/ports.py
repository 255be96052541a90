"""What the health monitor asks of the store: a bounded ``SELECT 1``.

The concrete store satisfies the protocol (mypy checks it in the daemon and in /readyz).
"""

from __future__ import annotations

from typing import Protocol


class ProbeStore(Protocol):
    """The database probe behind /readyz and the daemon's health tick."""

    async def ping(self) -> None: ...
