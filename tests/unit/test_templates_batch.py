"""A batch of renders in one trip to a worker thread: each result in its place, each bounded."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from notifier.templates import SAMPLES, Renderer, RenderJob, TemplateError
from notifier.templates.workers import RenderPool


def _renderer(tmp_path: Path, bodies: dict[str, str]) -> Renderer:
    for name, body in bodies.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "sms.es.j2").write_text(body, encoding="utf-8")
    return Renderer(tmp_path)


async def test_a_batch_renders_each_job_in_its_place_in_one_worker_thread(tmp_path: Path) -> None:
    seen: list[threading.Thread] = []

    def probe() -> str:
        seen.append(threading.current_thread())
        return "!"

    renderer = _renderer(
        tmp_path, {"hi": "Hola, {{ customer.first_name }}{{ probe() }}", "bad": "{{ 1 / 0 }}"}
    )
    context = {**SAMPLES["delivery"], "probe": probe}
    jobs = [
        RenderJob("hi", "sms", "es", context),
        RenderJob("bad", "sms", "es", context),
        RenderJob("none", "sms", "es", context),
        RenderJob("hi", "sms", "es", {**context, "customer": {"first_name": "Bea"}}),
    ]
    first, broken, missing, last = await renderer.render_many_async(jobs)
    assert first == renderer.render("hi", "sms", "es", context)
    assert isinstance(broken, TemplateError) and "ZeroDivisionError" in str(broken)
    assert isinstance(missing, TemplateError) and "no message 'none'" in str(missing)
    assert not isinstance(last, TemplateError) and last.text == "Hola, Bea!"
    workers = set(seen[:2])
    assert len(workers) == 1 and threading.current_thread() not in workers
    assert await renderer.render_many_async([]) == []


async def test_the_caller_stops_waiting_for_a_batch_stuck_past_its_deadlines() -> None:
    stuck = threading.Event()
    ran: list[int] = []
    workers: list[threading.Thread] = []

    def render(i: int) -> str:
        ran.append(i)
        workers.append(threading.current_thread())
        if i == 1:
            stuck.wait()
        return f"r{i}"

    # A second of grace: the first job must finish inside it even on a loaded machine.
    pool = RenderPool(timedelta(milliseconds=1), grace=timedelta(seconds=1))
    try:
        results = await pool.run_each(render, [0, 1, 2], on_timeout=lambda i: TimeoutError(i))
    finally:
        stuck.set()
        pool.close()
    assert results[0] == "r0"
    assert [type(r) for r in results[1:]] == [TimeoutError, TimeoutError]
    assert [r.args for r in results[1:]] == [(1,), (2,)]  # type: ignore[union-attr]  # errors
    workers[0].join(timeout=30)  # the pool is closed: its thread ends once the job returns
    assert not workers[0].is_alive()
    assert 2 not in ran  # the stop reached the thread: the last job never started


async def test_a_batch_longer_than_one_wait_is_waited_for_while_it_progresses() -> None:
    # Each item takes well under one wait (1 ms + 1.5 s grace: over a second to spare on a
    # loaded machine); all eight together take longer than one wait.
    pool = RenderPool(timedelta(milliseconds=1), grace=timedelta(milliseconds=1500))

    def render(i: int) -> str:
        time.sleep(0.25)
        return f"r{i}"

    items = list(range(8))
    try:
        results = await pool.run_each(render, items, on_timeout=lambda i: TimeoutError(i))
    finally:
        pool.close()
    assert results == [f"r{i}" for i in items]
