"""`notifier incident show ID --watch`: a fan-out's counts, live, until it settles.

On a terminal the counts and a progress bar are redrawn in place (plain ANSI: back up
over the last frame, clear, draw); into a pipe or a file one line is printed per change,
so a log reads as a history. It ends when the fan-out is settled (``is_settled``), or
at Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TextIO

from notifier.domain.incident_counts import STATES, progress
from notifier.engine.crisis.commands import Incidents, Progress

BAR = 30  # characters of the progress bar
_UP_AND_CLEAR = "\x1b[{n}F\x1b[J"  # to the start of the line n lines up; clear below


async def watch(
    incidents: Incidents,
    incident_id: int,
    out: TextIO,
    *,
    tty: bool,
    every: timedelta = timedelta(seconds=1),
) -> None:
    """Print the incident's progress every ``every`` until its fan-out is settled, or until
    Ctrl-C, which ends the watch (never the fan-out) between two looks."""
    drawn, last = 0, ""
    stop = asyncio.Event()
    with _on_interrupt(stop.set):
        while True:
            shown = await incidents.progress(incident_id)
            if tty:
                lines = frame(shown)
                out.write((_UP_AND_CLEAR.format(n=drawn) if drawn else "") + "\n".join(lines))
                out.write("\n")
                drawn = len(lines)
            elif (line := change_line(shown)) != last:
                out.write(line + "\n")
                last = line
            if shown.settled:
                out.write(f"incident {incident_id}: fan-out settled\n")
            out.flush()
            if shown.settled:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every.total_seconds())
            if stop.is_set():
                out.write("\n")
                return


@contextlib.contextmanager
def _on_interrupt(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` on SIGINT instead of cancelling whatever query is running (which
    would leave the database driver to complain on the way out). Where the loop cannot
    take a signal handler (not the main thread), Ctrl-C interrupts as usual."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
    except (NotImplementedError, RuntimeError, ValueError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def frame(shown: Progress) -> list[str]:
    """Return the lines a terminal shows: the bar, the counts, each channel's."""
    inc, c, settled = shown.incident, shown.counts, shown.settled
    done, of = progress(c)
    filled = (BAR if settled else 0) if of == 0 else BAR * done // of
    state = inc.status.value + (" (paused)" if inc.paused else "")
    title = next(iter(inc.titles.values()), "")
    lines = [
        f"incident {inc.id}: {title} ({state})",
        f"[{'#' * filled}{'.' * (BAR - filled)}] {_percent(done, of, settled)}  {done} of {of}",
        _counts(c.affected, c.states),
    ]
    for channel, per in sorted(c.by_channel.items()):
        shown_counts = ", ".join(f"{k} {v}" for k, v in per.items() if v)
        lines.append(f"  {channel}: {shown_counts or '-'}")
    return lines


def change_line(shown: Progress) -> str:
    """Return the one line printed when the counts change (stdout is no terminal)."""
    done, of = progress(shown.counts)
    percent = _percent(done, of, shown.settled)
    return f"{_counts(shown.counts.affected, shown.counts.states)} ({percent})"


def _counts(affected: int, states: dict[str, int]) -> str:
    return f"affected {affected}, " + ", ".join(f"{name} {states[name]}" for name in STATES)


def _percent(done: int, of: int, settled: bool) -> str:
    if of == 0:  # nobody to tell: done once settled, else not yet planned
        return "100%" if settled else "0%"
    return f"{100 * done // of}%"
