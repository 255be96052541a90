"""The naive design, measured on the same data: one APScheduler 3.11 job per promise.

Every promise is a ``DateTrigger`` job in APScheduler's own ``SQLAlchemyJobStore`` (its
table filled with bulk-inserted job rows), run by a ``BackgroundScheduler``, each job a
plain blocking send through the same Twilio SDK to the same local server. The issue's
naive design sends sequentially (an executor of one thread); it is also run with
APScheduler's default executor, a pool of 10 threads, since that is what a team gets
without asking. ``misfire_grace_time=None`` drops nothing; the default (1 s) is run once
to count what a burst loses.

    .venv/bin/python -m bench.baseline '{"mode": "run", ...}'   (a measuring child)
"""

from __future__ import annotations

import os
import pickle
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import create_engine, func, select

from bench.common import Server, child_args, database, emit, run_child, sync_url
from bench.generate import phone
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN

BODY = (
    "Acme: {name}, perdón: tu pedido {order} no llegó hoy como prometimos. Te escribimos "
    "apenas tengamos nueva fecha. No necesitas hacer nada. https://example.com/help"
)
DEFAULT_GRACE = object()  # APScheduler's own default misfire_grace_time (1 s)
DEFAULT_WORKERS = 10  # APScheduler's default executor: ThreadPoolExecutor(10)
_client: Any = None
_lock = threading.Lock()


def send_sms(to: str, body: str) -> None:
    """The job: one blocking send through the Twilio SDK (aimed at BENCH_TWILIO_URL)."""
    global _client
    with _lock:
        if _client is None:
            from twilio.rest import Client

            _client = Client(ACCOUNT_SID, AUTH_TOKEN, environment={})
            _client.api.base_url = os.environ["BENCH_TWILIO_URL"]
    _client.messages.create(to=to, from_="+15017122661", body=body)


def fill_jobs(url: str, total: int, due: int, now: datetime, grace: object) -> None:
    """Bulk-insert ``total`` job rows, the first ``due`` due a second before ``now``.

    ``now`` may lie ahead: the due jobs then fall due together while the scheduler runs.
    """
    store = SQLAlchemyJobStore(url=sync_url(url))
    store.jobs_t.create(store.engine, checkfirst=True)
    kwargs: dict[str, Any] = {} if grace is DEFAULT_GRACE else {"misfire_grace_time": grace}
    template = Job(BackgroundScheduler(timezone=UTC), id="t", func=send_sms,
                   trigger=DateTrigger(now, timezone=UTC), executor="default", args=("", ""),
                   kwargs={}, name="send_sms", coalesce=True, max_instances=1,
                   misfire_grace_time=kwargs.get("misfire_grace_time", 1),
                   next_run_time=now).__getstate__()  # fmt: skip
    rnd = random.Random(3)
    rows = []
    for i in range(total):
        at = now - timedelta(seconds=1) if i < due else now + timedelta(
            hours=1, seconds=rnd.randrange(30 * 86400))  # fmt: skip
        state = dict(template, id=f"promise-{i}", trigger=DateTrigger(at, timezone=UTC),
                     args=(phone(i), BODY.format(name="Ana", order=f"A-{1_000_000 + i}")),
                     next_run_time=at)  # fmt: skip
        rows.append({"id": state["id"], "next_run_time": at.timestamp(),
                     "job_state": pickle.dumps(state, pickle.HIGHEST_PROTOCOL)})  # fmt: skip
        if len(rows) == 20_000 or i == total - 1:
            with store.engine.begin() as conn:
                conn.execute(store.jobs_t.insert(), rows)
            rows = []
    store.shutdown()


def _remaining_due(url: str, until: float) -> int:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            table = SQLAlchemyJobStore(engine=engine).jobs_t
            return int(
                conn.execute(
                    select(func.count()).select_from(table).where(table.c.next_run_time <= until)
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _run(a: dict[str, Any]) -> dict[str, Any]:
    """Start the scheduler on the filled store; wait until every due job ran or was dropped."""
    os.environ["BENCH_TWILIO_URL"] = f"http://127.0.0.1:{a['port']}"
    missed = 0

    def on_missed(_: JobExecutionEvent) -> None:
        nonlocal missed
        missed += 1

    store = SQLAlchemyJobStore(url=sync_url(a["url"]))
    executor = ThreadPoolExecutor(a.get("workers", DEFAULT_WORKERS))
    scheduler = BackgroundScheduler(jobstores={"default": store},
                                    executors={"default": executor}, timezone=UTC)  # fmt: skip
    scheduler.add_listener(on_missed, EVENT_JOB_MISSED)
    scheduler.start()
    started = time.time()
    if a["mode"] == "startup":
        scheduler.shutdown(wait=False)
        return {"started": started}
    cutoff = datetime.fromisoformat(a["now"]).timestamp()
    deadline = time.monotonic() + a["timeout"]
    while time.monotonic() < deadline and _remaining_due(a["url"], cutoff) > 0:
        time.sleep(0.2)
    scheduler.shutdown(wait=True)
    return {"started": started, "missed": missed}


def measure(
    kind: str,
    total: int,
    due: int,
    latency: int,
    grace: object = None,
    lead: float = 0.0,
    workers: int = DEFAULT_WORKERS,
) -> dict[str, float]:
    """Run the naive design on ``total`` jobs, ``due`` of them due; return its figures.

    ``workers`` is the executor's thread pool: 1 sends one message at a time.

    With ``lead`` the due jobs fall due together that many seconds after the store is
    written, while the scheduler runs (a burst), instead of being overdue at start.
    """
    now = datetime.now(UTC) + timedelta(seconds=lead)
    with database(kind, f"naive{latency}") as url:
        fill_jobs(url, total, due, now, grace)
        with Server("twilio", latency) as server:
            args = {"mode": "run", "url": url, "port": server.port, "now": now.isoformat(),
                    "timeout": 1800, "workers": workers}  # fmt: skip
            result, peak = run_child("bench.baseline", args)
            times = sorted(server.arrivals().values())
        spawned = time.time()
        started, _ = run_child("bench.baseline", {"mode": "startup", "url": url, "port": 0,
                                                  "spawned": spawned})  # fmt: skip
    begun = max(result["started"], now.timestamp() - 1)
    seconds = (times[-1] - begun) if times else float("inf")
    return {"received": len(times), "seconds": seconds, "rate": len(times) / seconds,
            "peak_mb": peak, "missed": result["missed"],
            "startup": started["started"] - spawned}  # fmt: skip


def main() -> None:
    """Run one measuring child (its JSON argument says which)."""
    emit(_run(child_args()))


if __name__ == "__main__":
    main()
