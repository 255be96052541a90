"""What the health monitor asks of the store: a connection to probe the database with.

The probe's ``SELECT 1`` is the one query written here; a store method replaces it. The
concrete store satisfies the protocol (mypy checks it in the daemon and in /readyz).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection


class ProbeStore(Protocol):
    """The database probe behind /readyz and the daemon's health tick."""

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
