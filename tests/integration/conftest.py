"""Integration fixtures: an API client on a real store, the rig, the CLI on the rig."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from notifier.api.app import create_app
from notifier.api.deps import Services
from notifier.config import Settings
from notifier.engine.ingest.ledger_service import Ledger
from notifier.store.store import Store
from tests.conftest import FakeClock

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def api(store: Store, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_token=SecretStr(TOKEN))
    svc = Services(settings=settings, store=store, clock=clock, ledger=Ledger(store, clock))
    transport = httpx.ASGITransport(app=create_app(svc))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://notifier.test", headers=AUTH
    ) as client:
        yield client


# The scan-and-dispatch rig, for every integration test, and the CLI on its database.
from tests.integration.cli_runner import cli  # noqa: E402, F401
from tests.integration.rig import rig, shipped  # noqa: E402, F401
