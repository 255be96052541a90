"""The benchmarks run end to end at tiny sizes (figures are not checked: speed lives in bench/)."""

from __future__ import annotations

from datetime import timedelta

from bench import (
    baseline,
    crisis_bench,
    detect_bench,
    dispatch_bench,
    purge_bench,
    scan_bench,
    wake_bench,
)
from bench.common import bench_now
from bench.generate import Ledger, customer_rows, phone, promise_rows


def test_generated_ledger_gives_each_due_promise_its_own_customer() -> None:
    spec = Ledger(open_promises=40, due=10, now=bench_now())
    promises = promise_rows(spec)
    assert len(customer_rows(spec)) == spec.customers == 10
    assert [p[1] for p in promises[:10]] == [f"c{i:07d}" for i in range(10)]
    assert all(p[11] <= spec.now for p in promises[:10])
    assert all(p[11] > spec.now for p in promises[10:])
    assert len({phone(i) for i in range(1000)}) == 1000


def test_scan_bench_schedules_every_due_promise() -> None:
    (small, large) = scan_bench.run([20, 60], 20, ("sqlite",))
    for figure in (small, large):
        assert figure.note.startswith("20 due, ")
        assert "UNEXPECTED" not in figure.note


def test_dispatch_bench_counts_what_the_fake_accepted() -> None:
    sends, memory, end_to_end = dispatch_bench.throughput("sqlite", "sms", 0, 15)
    assert "15 accepted" in sends.note and "'sent': 15" in sends.note
    assert memory.value > 0
    assert end_to_end.value > 15 / sends.value  # the scan tick comes on top of the sends


def test_naive_design_sends_every_due_job_without_a_grace_time() -> None:
    for workers in (1, baseline.DEFAULT_WORKERS):
        figures = baseline.measure("sqlite", 30, 10, 0, workers=workers)
        assert figures["received"] == 10 and figures["missed"] == 0


def test_purge_bench_purges_the_whole_backlog_while_sending() -> None:
    purge, meanwhile = purge_bench.measure("sqlite", 40, 10)
    assert "10 promises and 20 notifications deleted, 20 emptied, 120 + 40 history" in purge.note
    assert purge.value > 0 and meanwhile.value > 0


def test_wake_bench_measures_each_due_promise_from_its_instant() -> None:
    p50, p99 = wake_bench.run("sqlite", 4, 0.5, 20, lead=6.0)
    assert p99.note.startswith("4 of 4 arrived") and "0 before the instant" in p99.note
    assert 0 <= p50.value <= p99.value


def test_crisis_bench_plans_one_apology_per_affected_customer_and_sends_them() -> None:
    plan, rss, first, rate = crisis_bench.run("sqlite", 30, 300, 10, window=2.0)
    assert plan.note.startswith("30 apologies planned for 30 affected"), plan.note
    assert rss.value > 0 and -1 < first.value < 60  # the id is printed just after commit
    assert rate.value > 0 and "apologies in 2 s" in rate.note


def test_detect_bench_proposes_the_strike_and_nothing_on_normal_days() -> None:
    month = detect_bench.Month(days=1, per_day=6_000, step=timedelta(minutes=10))
    delay, held, false, mean, worst = detect_bench.run("sqlite", month)
    assert delay.case.endswith("delay from the strike's start"), delay
    assert 0 < delay.value < 6 * 60 and held.met, (delay, held)
    assert held.value <= 10 + 2 * 10
    assert false.value == 0 and false.met, false
    assert 0 < mean.value <= worst.value and "144 scans" in mean.note
