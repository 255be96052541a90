"""Three replicas on one PostgreSQL under load, Twilio throttling, one replica killed twice.

``NOTIFICATIONS`` late deliveries (one customer each: every eighth by SMS, the rest by
email; 1,200 by default, ``NOTIFIER_E2E_LOAD_COUNT`` for more: the issue's 5,000 take
about five minutes on a shared 2-core machine, see bench/RESULTS.md; the SMS share is
small because every seventh Twilio request is answered 429 and each 429's one-second
Retry-After holds the SMS bucket for the whole cluster). One replica is killed with
``kill -9`` twice during the run and started again each time. ``NOTIFIER_LEASE`` is 15 s:
longer than the 10 s in which a live replica renews its leases (shorter, live replicas'
rows get adopted by others while they wait for the rate). What must hold at the end:

- every notification ``sent``, none ``failed`` (a 429 is throttling, not the recipient's
  failure) and none left ``sending``;
- every SMS received exactly once; every email with one Message-ID (README: an email
  resent after a crash carries the same Message-ID, so count distinct ids);
- in every sliding 1-second window of arrivals at the provider, at most the rate plus one
  message (SMS counted in segments), plus what ``TRANSIT`` of jitter adds. The code
  bounds the departures exactly (domain/pacing.py: each request leaves within 20 ms
  of its slot, slots spaced at the margin, or takes a new slot), in every process; what
  lies beyond it is the transit from departure to the fake's stamp (the client's own
  work, both event loops, the machine's scheduling): arrivals in a second come from
  departures within ``1 s + TRANSIT``, ``rate * TRANSIT`` more at most. The figures are
  printed; everything else is asserted exactly.

Arrival instants are ``time.monotonic()`` stamps the fakes take; nothing reads the date.
The SMTP fake runs in a process of its own for this test (``mail_sink``): in a thread of
the test process its stamps waited on the GIL behind the test's own work, and two CI runs
under heavy load saw 42 emails in one second from departures the code had spaced.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from notifier.store.convert import notification_events, notifications
from notifier.store.store import Store
from notifier.templates.segments import count_segments
from tests.e2e.conftest import DaemonFactory, Fakes, reasons, rows
from tests.e2e.daemon import ROOT, daytime_zone, notifier, wait_for, write_jsonl
from tests.fakes.smtp_server import Received, read_spool, spooled

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def _count() -> int:
    text = os.environ.get("NOTIFIER_E2E_LOAD_COUNT", "1200")
    if not text.isdigit() or not 16 <= int(text) <= 9999:
        raise ValueError(f"NOTIFIER_E2E_LOAD_COUNT must be a whole number 16..9999, not {text!r}")
    return int(text)


NOTIFICATIONS = _count()
SMS_EVERY = 8  # customer i is texted when i % SMS_EVERY == 0, mailed otherwise
RATE_SMS = 14  # segments/s: 7 two-segment texts fill a second, then a 429 holds it
RATE_EMAIL = 30  # messages/s
# Seconds: the spread of departure-to-stamp transit allowed (see above). The email fake
# stamped in a thread of this busy test process: runs on the shared 2-core box saw 33 to
# 39 emails in the worst second (rate 30 + 1), and two CI runs under heavy load 42. It now
# stamps at MAIL FROM, the transaction's first command, in its own process.
TRANSIT = 0.3
SETTLE = 180.0 * max(1.0, NOTIFICATIONS / 1200)  # seconds for everything to settle
KILL_AT = (0.25, 0.6)  # the share of messages received before each kill


def _ledger(home: Path, now: datetime) -> list[Path]:
    """Files for ``notifier import``: customers, their last touchpoint, one late delivery each."""
    zone = daytime_zone(now)
    customers, touches, promises = [], [], []
    for i in range(NOTIFICATIONS):
        cid = f"r-{i:04d}"
        channel = "sms" if i % SMS_EVERY == 0 else "email"
        customers.append({"id": cid, "name": f"Cliente {i}", "locale": "es", "timezone": zone,
                          "phone": f"+54911700{i:05d}", "email": f"{cid}@example.com"})  # fmt: skip
        touches.append({"customer_id": cid, "channel": channel, "direction": "inbound",
                        "at": (now - timedelta(hours=1)).isoformat()})  # fmt: skip
        promises.append({"customer_id": cid, "kind": "delivery", "external_ref": f"o-{i}",
                         "due_at": (now - timedelta(hours=2)).isoformat(),
                         "attributes": {"order_id": f"o-{i}"}})  # fmt: skip
    return [
        write_jsonl(home / "customers.jsonl", customers),
        write_jsonl(home / "interactions.jsonl", touches),
        write_jsonl(home / "promises.jsonl", promises),
    ]


def worst_window(arrivals: list[tuple[float, float]]) -> float:
    """The most cost arriving in any 1-second window [t, t + 1) (``(instant, cost)`` pairs)."""
    ordered = sorted(arrivals)
    worst, total, start = 0.0, 0.0, 0
    for t, cost in ordered:  # a window starting at an arrival holds the most
        total += cost
        while ordered[start][0] <= t - 1.0:
            total -= ordered[start][1]
            start += 1
        worst = max(worst, total)
    return worst


async def _recovered(url: str) -> int:
    """How many rows a recovery took over from a dead (or stalled) replica."""
    store = Store.open(url)
    try:
        async with store.reading() as conn:
            query = select(func.count(func.distinct(notification_events.c.notification_id)))
            return int(await conn.scalar(query.where(notification_events.c.type == "recovered")))
    finally:
        await store.close()


@pytest.fixture
def mail_sink(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The SMTP fake in a process of its own, spooling to a folder: (port, spool)."""
    spool = tmp_path / "spool"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.smtp_server", "--port", "0", "--spool", str(spool)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the server listens, or it died
    assert line.startswith("listening on 127.0.0.1:"), line
    yield int(line.strip().rpartition(":")[2]), spool
    process.terminate()
    process.wait(timeout=30)


def _received(fakes: Fakes, spool: Path) -> int:
    return len(fakes.twilio.messages) + spooled(spool)


async def _settled(url: str) -> list[dict[str, Any]]:
    """Every row, once all are written and none is pending or sending (a count first)."""
    store = Store.open(url)
    try:
        async with store.reading() as conn:
            total = await conn.scalar(select(func.count()).select_from(notifications))
            busy = await conn.scalar(
                select(func.count())
                .select_from(notifications)
                .where(notifications.c.status.in_(("pending", "sending")))
            )
    finally:
        await store.close()
    return await rows(url) if total == NOTIFICATIONS and not busy else []


async def test_three_replicas_under_throttling_and_kills_send_once_within_the_rate(
    postgres_url: str, make_daemon: DaemonFactory, fakes: Fakes, mail_sink: tuple[int, Path]
) -> None:
    smtp_port, spool = mail_sink
    began = time.monotonic()
    now = datetime.now(UTC)
    settings = {
        "NOTIFIER_LEASE": "15s", "NOTIFIER_RATE_SMS": str(RATE_SMS),
        "NOTIFIER_RATE_EMAIL": str(RATE_EMAIL), "NOTIFIER_LOG_LEVEL": "WARNING",
        "NOTIFIER_SMTP_PORT": str(smtp_port),
    }  # fmt: skip
    replicas = [make_daemon(postgres_url, **settings) for _ in range(3)]
    home, env = replicas[0].home, replicas[0].env
    customers, *rest = _ledger(home, now)
    imported = [notifier("import", str(customers), env=env, cwd=home)]
    with ThreadPoolExecutor(2) as pool:  # touchpoints and promises only need the customers
        imported += pool.map(lambda p: notifier("import", str(p), env=env, cwd=home), rest)
    assert [d.returncode for d in imported] == [0, 0, 0], [d.stderr for d in imported]
    fakes.twilio.throttle_every = 7  # Retry-After: 1 (the fake's default)

    for daemon in replicas:
        daemon.start()
    for daemon in replicas:
        await daemon.ready()
    victim = replicas[0]
    for share in KILL_AT:
        target = int(NOTIFICATIONS * share)
        await wait_for(lambda t=target: _received(fakes, spool) >= t, f"{target} messages received")
        victim.kill()
        await victim.started()

    found = await wait_for(
        lambda: _settled(postgres_url), "every notification settled", SETTLE, interval=0.5
    )
    mails: list[Received] = read_spool(spool)
    assert [await d.stop() for d in replicas] == [0, 0, 0]
    took = time.monotonic() - began
    recovered = await _recovered(postgres_url)
    print(f"\n{NOTIFICATIONS} notifications in {took:.1f}s, {recovered} rows recovered")
    assert recovered > 0, "no kill left rows behind: the test proved nothing"

    statuses = Counter(r["status"] for r in found)
    assert statuses == {"sent": NOTIFICATIONS}, statuses  # nothing failed, nothing sending
    sms = [r for r in found if r["channel"] == "sms"]
    emails = [r for r in found if r["channel"] == "email"]
    others = [r for r in found if r["channel"] not in ("sms", "email")]
    assert (len(sms), len(emails)) == (NOTIFICATIONS // SMS_EVERY, NOTIFICATIONS - len(sms)), [
        (r["id"], r["status"], r["attempted_at"], await reasons(postgres_url, r["id"]))
        for r in others
    ]

    assert fakes.twilio.throttled > 0, "no 429 was answered: the test proved nothing"
    throttled = [r for r in sms if any(x.startswith("throttled") for x in await reasons(
        postgres_url, r["id"]))]  # fmt: skip
    assert throttled, "no notification recorded its 429 as throttling"
    assert all(r["attempts"] <= 2 for r in throttled), "a 429 counted as the row's attempt"

    texts = Counter(m["to"] for m in fakes.twilio.messages)
    assert sorted(texts) == sorted(r["address"] for r in sms)
    assert set(texts.values()) == {1}, [t for t, n in texts.items() if n > 1]
    ids: dict[str, set[str]] = {}
    for mail in mails:
        ids.setdefault(mail.rcpt_tos[0], set()).add(str(mail.parsed()["Message-ID"]))
    assert sorted(ids) == sorted(r["address"] for r in emails)
    assert {len(v) for v in ids.values()} == {1}, "an email went twice with two Message-IDs"

    texted = zip(fakes.twilio.arrived, fakes.twilio.messages, strict=True)
    segments = [(t, float(count_segments(m["body"]).segments)) for t, m in texted]
    per_text = max(c for _, c in segments)
    worst_sms = worst_window(segments)
    worst_email = worst_window([(m.arrived, 1.0) for m in mails])
    print(f"worst 1-s window: SMS {worst_sms:.0f} segments (rate {RATE_SMS}, "
          f"+{per_text:.0f} one text), email {worst_email:.0f} (rate {RATE_EMAIL}, +1); "
          f"{fakes.twilio.throttled} 429s, {len(mails)} mails received")  # fmt: skip
    assert worst_sms <= RATE_SMS + per_text + math.ceil(RATE_SMS * TRANSIT), worst_sms
    assert worst_email <= RATE_EMAIL + 1 + math.ceil(RATE_EMAIL * TRANSIT), worst_email
