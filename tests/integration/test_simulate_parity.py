"""The parity corpus: ``simulate`` predicts what the daemon then does, case by case.

Each scenario builds its world with the rig, then from one instant: the forecast, and
the real scan and dispatcher stepped with the test clock on the same tick. Both must
send the same messages to the same people on the same channels at the same instants,
and each withheld prediction must be the row's final state. Adding a case is one entry
in ``SCENARIOS``; its ``shows`` proves the case is exercised (a parity of nothing passes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.domain.forecast import Forecast
from notifier.domain.models import NotificationStatus, Source
from notifier.engine.planning.simulate import forecast
from tests.integration.poison import insert_promise
from tests.integration.rig import Rig

# Twilio's magic test number for "not a valid phone number" (21211): a permanent error.
INVALID_PHONE = "+15005550001"
# Accepted by the API before it checked instants: every rule's offset from it overflows.
FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/Argentina/Buenos_Aires")  # the rig's customers live here

# One message: customer, channel, message, instant, and the dedupe keys it carries. Which
# key heads a consolidated message is left out: notices of promises checked at the same
# instant come in the order the database reads them, which no forecast can know.
Message = tuple[str, str, str, datetime, frozenset[str]]
FINAL = {
    "cancelled": NotificationStatus.CANCELLED,
    "suppressed": NotificationStatus.SUPPRESSED,
    "failed": NotificationStatus.FAILED,
}


@dataclass(frozen=True)
class Scenario:
    """A world to build before the forecast starts, how long to look, and what it shows."""

    build: Callable[[Rig], Awaitable[None]]
    span: timedelta
    shows: Callable[[Forecast], bool]
    step: timedelta = timedelta(minutes=10)  # the daemon's tick


async def _quiet_hours(rig: Rig) -> None:
    await rig.customer("night")
    await rig.promise("night", "night-1", timedelta(hours=8))  # 20:00 in Buenos Aires
    rig.clock.advance(timedelta(hours=8, minutes=50))  # late at 21:15 local: waits till 08:00


async def _consolidation(rig: Rig) -> None:
    await rig.customer("pair")
    await rig.promise("pair", "pair-1", timedelta(hours=3))  # late a tick apart: the
    await rig.promise("pair", "pair-2", timedelta(hours=3, minutes=12))  # first waits
    await rig.tick()  # the at-risk warnings go now, before the forecast


async def _cap(rig: Rig) -> None:
    await rig.customer("busy")
    for i, hours in enumerate([-2, 1, 2, 4, 6]):  # more than the cap of 3 a day
        await rig.promise("busy", f"busy-{i}", timedelta(hours=hours))


async def _fallback(rig: Rig) -> None:
    await rig.customer("bounce", phone=INVALID_PHONE)
    await rig.promise("bounce", "bounce-1", timedelta(hours=-2))
    await rig.tick()  # SMS fails for good: the phone is marked undeliverable, email goes
    await rig.promise("bounce", "bounce-2", timedelta(hours=1))


async def _kept(rig: Rig) -> None:
    await rig.customer("kept")
    kept = await rig.promise("kept", "kept-1", timedelta(hours=-2))  # late now, but its
    await rig.promise(
        "kept",
        "kept-2",
        timedelta(hours=4, minutes=5),  # notice waits for
        carrier_status="delayed",
    )  # this one's at-risk check in 5 minutes,
    await rig.tick()  # to go as one message
    await rig.ledger.keep(kept, Source.API)  # the waiting notice is moot now


async def _opted_out(rig: Rig) -> None:
    await rig.customer("optout")  # no SMS: the next consenting channel, email
    await rig.customer("optout-all", email=None)  # no SMS and nothing else: suppressed
    for cid in ("optout", "optout-all"):
        assert await rig.store.set_consent(cid, "sms", False, rig.clock.now())
        await rig.promise(cid, f"{cid}-1", timedelta(hours=-2))


async def _plan_error(rig: Rig) -> None:
    await rig.customer("faulty")
    await insert_promise(rig.store, "faulty", "faulty-far", FAR, rig.clock.now())
    await rig.promise("faulty", "faulty-1", timedelta(minutes=-65))  # late in 10 minutes
    await rig.tick()  # the far one fails: a plan error, retried a minute later, and again


def _reasons(found: Forecast) -> list[str]:
    return [r for s in found.sends for r in s.reasons]


SCENARIOS = [
    pytest.param(
        Scenario(_quiet_hours, timedelta(hours=12),
                 lambda f: [s.at.astimezone(ZONE).time() for s in f.sends] == [time(8)]),
        id="quiet-hours",
    ),
    pytest.param(
        Scenario(_consolidation, timedelta(hours=5),
                 lambda f: any(s.message == "several_late" for s in f.sends)),
        id="consolidation-across-promises",
    ),
    pytest.param(
        Scenario(_cap, timedelta(hours=26),
                 lambda f: any(r.startswith("frequency cap") for r in _reasons(f)),
                 step=timedelta(minutes=30)),  # the cap lets go a day after
        id="frequency-cap",
    ),
    pytest.param(
        Scenario(_fallback, timedelta(hours=3),
                 lambda f: bool(f.sends) and {s.channel for s in f.sends} == {"email"}),
        id="fallback-after-permanent-error",
    ),
    pytest.param(
        Scenario(_kept, timedelta(hours=12),
                 lambda f: any(w.outcome == "cancelled" for w in f.withheld)),
        id="kept-before-its-send",
    ),
    pytest.param(
        Scenario(_opted_out, timedelta(hours=2),
                 lambda f: {(s.customer_id, s.channel) for s in f.sends} == {("optout", "email")}
                 and any(w.customer_id == "optout-all" and w.outcome == "suppressed"
                         for w in f.withheld)),
        id="opted-out",
    ),
    pytest.param(
        Scenario(_plan_error, timedelta(hours=1),
                 lambda f: any(s.message == "delivery_late" for s in f.sends)
                 and not any("to go with" in r for r in _reasons(f))),
        id="a-promise-in-plan-error-holds-nothing-back",
    ),
]  # fmt: skip


def _predicted(found: Forecast) -> set[Message]:
    return {
        (s.customer_id, s.channel, s.message, s.at, frozenset((s.dedupe_key, *s.members)))
        for s in found.sends
    }


async def _outbox(rig: Rig) -> tuple[set[Message], dict[str, NotificationStatus]]:
    """Return every message sent so far, and each row's status by dedupe key."""
    records = await rig.store.list_notifications(limit=10_000)
    folded: dict[int, set[str]] = {}
    for r in records:
        if r.notification.folded_into is not None:
            folded.setdefault(r.notification.folded_into, set()).add(r.notification.dedupe_key)
    sent: set[Message] = set()
    for r in records:
        n = r.notification
        if n.status is NotificationStatus.SENT and n.folded_into is None:
            assert r.sent_at is not None and n.channel is not None
            keys = frozenset({n.dedupe_key, *folded.get(n.id, ())})
            sent.add((n.customer_id, n.channel, n.message, r.sent_at, keys))
    return sent, {r.notification.dedupe_key: r.notification.status for r in records}


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_simulate_predicts_what_the_daemon_does(rig: Rig, scenario: Scenario) -> None:
    await scenario.build(rig)
    sent_before, status_before = await _outbox(rig)
    start = rig.clock.now()
    end = start + scenario.span

    channels = rig.dispatcher.channels.available()
    found = await forecast(rig.store, rig.rules, rig.settings.dispatch, rig.settings.scan,
                           channels, start, end, step=scenario.step)  # fmt: skip
    assert scenario.shows(found), found

    while rig.clock.now() < end:
        await rig.tick()
        rig.clock.advance(scenario.step)
    await rig.tick()

    sent, status = await _outbox(rig)
    assert sent - sent_before == _predicted(found)
    withheld = {w.dedupe_key: FINAL[w.outcome] for w in found.withheld}
    settled = {
        key: s
        for key, s in status.items()
        if s in FINAL.values() and status_before.get(key) is not s
    }
    assert settled == withheld
