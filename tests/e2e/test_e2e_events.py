"""``notifier run`` with NOTIFIER_EVENTS_URL: the CRM hears the customer's thread, signed.

The API and the CLI write events too (each process opens the store from the same
settings); the daemon's relay posts them to a local receiver that checks every
signature, in order per promise, also when the receiver was down at first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes
from tests.e2e.daemon import daytime_zone, notifier, wait_for
from tests.fakes.events_receiver import EventsReceiver

pytestmark = pytest.mark.e2e
SECRET = "whsec-e2e-0123456789"


@pytest.fixture
async def receiver() -> AsyncIterator[EventsReceiver]:
    r = EventsReceiver(SECRET)
    await r.start()
    yield r
    await r.stop()


def thread(receiver: EventsReceiver, pid: int) -> list[str]:
    return [
        e.get("change") or e["notification"]["status"]
        for e in receiver.accepted
        if e["stream"] == f"promise:{pid}"
    ]


async def test_the_crm_hears_every_change_in_order_from_the_api_cli_and_daemon(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes, receiver: EventsReceiver
) -> None:
    await receiver.down()  # down at first: the events wait in their outbox
    daemon = await make_daemon(
        e2e_db, NOTIFIER_EVENTS_URL=receiver.url, NOTIFIER_EVENTS_SECRET=SECRET,
        NOTIFIER_EVENTS_MAX_BACKOFF="1s",
    ).started()  # fmt: skip
    now = datetime.now(UTC)
    await daemon.customer("c-1", last_used="sms", phone="+5491155550101",
                          email="c-1@example.com", name="Ana", locale="es-AR",
                          timezone=daytime_zone(now))  # fmt: skip
    pid = await daemon.promise("c-1", "order-1", now - timedelta(hours=2))
    await wait_for(lambda: fakes.sms_to("+5491155550101"), "the apology")

    await receiver.up()
    await wait_for(lambda: thread(receiver, pid) == ["created", "broken", "pending", "sent"],
                   "the thread so far")  # fmt: skip

    # The CLI is another process: it writes its event in its own transaction.
    done = notifier("promise", "keep", str(pid), env=daemon.env, cwd=daemon.home)
    assert done.returncode == 0, done.stderr
    await wait_for(lambda: thread(receiver, pid)[-1:] == ["kept"], "the CLI's keep")

    assert receiver.forged == 0
    assert len(set(receiver.ids())) == len(receiver.ids())
    assert [e["sequence"] for e in receiver.accepted] == [1, 2, 3, 4, 5]
    status = notifier("status", "--json", env=daemon.env, cwd=daemon.home)
    assert json.loads(status.stdout)["events"]["pending"] == 0
    assert await daemon.stop() == 0
    assert SECRET not in daemon.stderr() + daemon.stdout()
