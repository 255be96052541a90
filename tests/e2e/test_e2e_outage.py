"""A PostgreSQL outage mid-dispatch: two replicas survive a cut and a blackhole, then resume.

Both ``notifier run`` replicas reach PostgreSQL through the TCP proxy of this process
(tests/e2e/tcp_proxy.py). ``NOTIFICATIONS`` late deliveries (every third by SMS, the rest
by email) are paced by the shared rates so that dispatch is still under way at each
outage; Twilio answers after ``TWILIO_LATENCY_MS``, so texts are in flight when it starts.
The proxy cuts every connection (some seconds), heals, then blackholes them (some
seconds), heals. What must hold:

- both processes run throughout, and are never restarted;
- during each outage each replica's ``/readyz`` answers 503, naming the database, each
  answer within the probe's bound (``PROBE_TIMEOUT``) plus a margin for a loaded machine;
  with the connections cut, the API answers 503 with ``Retry-After: 5``;
- after each heal both are ready again and the dispatch goes on by itself;
- at the end every notification is ``sent`` (none ``pending`` or ``sending``), every text
  arrived exactly once, every email with one Message-ID (README: an email whose outcome
  was lost is sent again with the same Message-ID; those resends are counted and printed).

Waits poll conditions up to generous deadlines; nothing reads the date but the ledger's
own instants (now minus two hours, in a zone where it is midday).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.engine.monitor import PROBE_TIMEOUT
from tests.e2e.conftest import DaemonFactory, Fakes, rows
from tests.e2e.daemon import Daemon, daytime_zone, notifier, wait_for, write_jsonl
from tests.e2e.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

NOTIFICATIONS = 300
SMS_EVERY = 3  # customer i is texted when i % SMS_EVERY == 0, mailed otherwise
RATES = {"NOTIFIER_RATE_SMS": "10", "NOTIFIER_RATE_EMAIL": "8"}  # ~30 s of dispatch in all
TWILIO_LATENCY_MS = 300
OUTAGE = 6.0  # seconds each outage lasts at least (longer until both replicas said 503)
PROBE_BOUND = PROBE_TIMEOUT.total_seconds()
MARGIN = 8.0  # seconds over the probe's bound a loaded machine may add to one answer


def _ledger(home: Path, now: datetime) -> list[Path]:
    """Files for ``notifier import``: customers, their last touchpoint, one late delivery each."""
    zone = daytime_zone(now)
    customers, touches, promises = [], [], []
    for i in range(NOTIFICATIONS):
        cid = f"o-{i:04d}"
        channel = "sms" if i % SMS_EVERY == 0 else "email"
        customers.append({"id": cid, "name": f"Cliente {i}", "locale": "es", "timezone": zone,
                          "phone": f"+54911800{i:05d}", "email": f"{cid}@example.com"})  # fmt: skip
        touches.append({"customer_id": cid, "channel": channel, "direction": "inbound",
                        "at": (now - timedelta(hours=1)).isoformat()})  # fmt: skip
        promises.append({"customer_id": cid, "kind": "delivery", "external_ref": f"order-{i}",
                         "due_at": (now - timedelta(hours=2)).isoformat(),
                         "attributes": {"order_id": f"order-{i}"}})  # fmt: skip
    return [
        write_jsonl(home / "customers.jsonl", customers),
        write_jsonl(home / "interactions.jsonl", touches),
        write_jsonl(home / "promises.jsonl", promises),
    ]


def _received(fakes: Fakes) -> int:
    return len(fakes.twilio.messages) + len(fakes.smtp.received)


def _alive(replicas: list[Daemon]) -> None:
    for daemon in replicas:
        assert daemon.proc is not None and daemon.proc.poll() is None, (
            f"a replica died ({daemon.proc and daemon.proc.returncode}):\n{daemon.stderr()}"
        )


async def _readyz(daemon: Daemon) -> tuple[int, dict[str, Any], float]:
    """One /readyz answer and how long it took (a client bound far past the probe's)."""
    began = time.monotonic()
    async with httpx.AsyncClient(base_url=str(daemon.client.base_url), timeout=30) as client:
        answer = await client.get("/readyz")
    return answer.status_code, answer.json(), time.monotonic() - began


async def _outage(
    replicas: list[Daemon],
    start: Callable[[], None],
    heal: Callable[[], None],
    database: str,
    on_unready: Callable[[], Awaitable[None]] | None = None,
) -> list[float]:
    """Start an outage, wait until every replica answers 503 naming the database (then run
    ``on_unready``), keep it at least ``OUTAGE`` seconds, heal; return the longest /readyz
    answer of each replica."""
    began = time.monotonic()
    start()
    slowest = [0.0] * len(replicas)

    async def unready(i: int) -> bool:
        _alive(replicas)
        code, body, took = await _readyz(replicas[i])
        slowest[i] = max(slowest[i], took)
        return (
            code == 503
            and body["database"].startswith(database)
            and any(r.startswith("database: ") for r in body["reasons"])
        )

    for i in range(len(replicas)):
        await wait_for(lambda i=i: unready(i), f"replica {i}'s /readyz 503: {database}")
    if on_unready is not None:
        await on_unready()
    while time.monotonic() - began < OUTAGE:  # the outage goes on; /readyz keeps saying so
        for i in range(len(replicas)):
            assert await unready(i), f"replica {i} ready again before the heal"
        await asyncio.sleep(0.5)
    heal()
    return slowest


async def _api_unavailable(daemon: Daemon) -> None:
    """The API answers 503 with Retry-After while the database refuses connections."""
    answer = await daemon.client.get("/v1/customers/o-0001")
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    assert answer.json() == {"detail": "the database is unavailable; try again later"}


async def _ready_again(replicas: list[Daemon]) -> None:
    async def all_ready() -> bool:
        _alive(replicas)
        answers = [await _readyz(d) for d in replicas]
        return all(code == 200 and body["reasons"] == [] for code, body, _ in answers)

    await wait_for(all_ready, "both replicas ready again")


async def _progress(fakes: Fakes, beyond: int, what: str) -> None:
    await wait_for(lambda: _received(fakes) > beyond, what)


async def _settled(url: str) -> list[dict[str, Any]]:
    found = await rows(url)
    busy = [r for r in found if r["status"] in ("pending", "sending")]
    return found if len(found) == NOTIFICATIONS and not busy else []


async def test_two_replicas_ride_out_a_cut_and_a_blackhole_mid_dispatch_and_send_once(
    postgres_url: str, proxy: TcpProxy, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    through = proxy.through(postgres_url)
    settings = {**RATES, "NOTIFIER_LEASE": "15s", "NOTIFIER_LOG_LEVEL": "WARNING"}
    replicas = [make_daemon(through, **settings) for _ in range(2)]
    home, env = replicas[0].home, {**replicas[0].env, "NOTIFIER_DATABASE_URL": postgres_url}
    customers, *rest = _ledger(home, datetime.now(UTC))
    for path in (customers, *rest):  # the customers first: the others name them
        done = await asyncio.to_thread(notifier, "import", str(path), env=env, cwd=home)
        assert done.returncode == 0, done.stderr
    fakes.twilio.latency_ms = TWILIO_LATENCY_MS

    for daemon in replicas:
        daemon.start()
    for daemon in replicas:
        await daemon.ready()

    # The cut: every connection reset, new ones refused.
    await wait_for(lambda: _received(fakes) >= NOTIFICATIONS // 4, "a quarter received")
    at_cut = _received(fakes)
    cut = await _outage(
        replicas, proxy.cut, proxy.heal, "error: ", lambda: _api_unavailable(replicas[1])
    )
    await _ready_again(replicas)
    after_cut = _received(fakes)
    await _progress(fakes, after_cut, "the dispatch resuming after the cut")

    # The blackhole: connections accepted, nothing answered, until the heal delivers.
    await wait_for(lambda: _received(fakes) >= NOTIFICATIONS // 2, "half received")
    at_blackhole = _received(fakes)
    assert at_blackhole < NOTIFICATIONS, "dispatch was over before the blackhole"
    blackhole = await _outage(
        replicas, proxy.blackhole, proxy.heal, f"error: no answer within {PROBE_BOUND:g}s"
    )
    await _ready_again(replicas)
    await _progress(fakes, _received(fakes), "the dispatch resuming after the blackhole")

    found = await wait_for(lambda: _settled(postgres_url), "every notification settled", 240)
    _alive(replicas)
    print(f"\nreceived {at_cut} at the cut, {after_cut} after it, {at_blackhole} at the "
          f"blackhole; slowest /readyz during the cut {max(cut):.2f}s, during the blackhole "
          f"{max(blackhole):.2f}s")  # fmt: skip
    assert max(cut + blackhole) <= PROBE_BOUND + MARGIN, (cut, blackhole)

    statuses = Counter(r["status"] for r in found)
    assert statuses == {"sent": NOTIFICATIONS}, statuses
    sms = [r for r in found if r["channel"] == "sms"]
    emails = [r for r in found if r["channel"] == "email"]
    assert len(sms) == len(range(0, NOTIFICATIONS, SMS_EVERY))
    assert len(emails) == NOTIFICATIONS - len(sms)
    texts = Counter(m["to"] for m in fakes.twilio.messages)
    assert sorted(texts) == sorted(r["address"] for r in sms)  # none lost
    assert set(texts.values()) == {1}, [t for t, n in texts.items() if n > 1]  # none twice
    ids: dict[str, set[str]] = {}
    for mail in fakes.smtp.received:
        ids.setdefault(mail.rcpt_tos[0], set()).add(str(mail.parsed()["Message-ID"]))
    assert sorted(ids) == sorted(r["address"] for r in emails)
    assert {len(v) for v in ids.values()} == {1}, "an email went twice with two Message-IDs"
    print(f"{len(fakes.smtp.received) - len(ids)} emails resent with their Message-ID")
    assert [await d.stop() for d in replicas] == [0, 0]
