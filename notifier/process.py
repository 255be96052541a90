"""Process-wide settings for the long-running daemon."""

from __future__ import annotations

import gc
import os
import sys
import threading
from datetime import timedelta

# CPython collects its youngest generation every 700 net allocations by default. A scan
# builds tens of thousands of short-lived objects a batch (rows, promises, moments,
# notices), none in reference cycles that need the collector, and each collection also
# walks what survived: raising the threshold saved about a sixth of a 10,000-promise
# tick's CPU time. Cycles are still collected, just less often.
GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Freeze what start-up loaded (never garbage) and collect the young less often."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def exit_after(delay: timedelta, code: int = 0) -> threading.Timer:
    """Exit the process with ``code`` in ``delay`` unless it has exited by then.

    The last resort of a shutdown that must end in time: a database that stops answering
    (packets dropped) leaves its driver's clean-up waiting with no timeout, and the event
    loop waits for that clean-up. What was not written is recovered by the next process,
    as after a crash. A daemon thread: it never keeps a process alive that is done.
    """

    def fire() -> None:
        sys.stderr.write(
            '{"event": "daemon.forced_exit", "level": "error", '
            f'"after_s": {delay.total_seconds():g}}}\n'
        )
        sys.stderr.flush()
        os._exit(code)

    timer = threading.Timer(delay.total_seconds(), fire)
    timer.daemon = True
    timer.start()
    return timer
