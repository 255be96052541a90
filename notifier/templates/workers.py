"""The worker threads the daemon renders in, off the event loop.

Rendering is CPU work under the GIL, so more threads would not render faster; two
let one slow template run out its time while the next message renders. The pool
starts its threads on first use only: one-off CLI renders never create them. A
render stops itself at its deadline (``limits.Budget``); waiting is bounded too, in
case one single operation overran it, so the dispatcher can always move on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

T = TypeVar("T")
A = TypeVar("A")

WORKERS = 2
# How long past its own deadline a render may take before the caller stops waiting.
GRACE = timedelta(seconds=5)


class RenderPool:
    """A small, lazily started thread pool; ``run`` awaits a function in it, ``run_each``
    a function over a batch of items in one trip."""

    def __init__(
        self, timeout: timedelta, workers: int = WORKERS, grace: timedelta = GRACE
    ) -> None:
        self._wait = (timeout + grace).total_seconds()
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """True once a render ran in the pool (its threads exist)."""
        return self._executor is not None

    async def run(
        self, func: Callable[..., T], *args: Any, on_timeout: Callable[[], Exception]
    ) -> T:
        """Return ``func(*args)`` run in a worker thread; raise ``on_timeout()`` if it hangs."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool(), func, *args)
        try:
            return await asyncio.wait_for(future, self._wait)
        except TimeoutError:
            raise on_timeout() from None

    async def run_each(
        self,
        func: Callable[[A], T],
        items: Sequence[A],
        on_timeout: Callable[[A], Exception],
    ) -> list[T | Exception]:
        """``func(item)`` for every item, in order, in one trip to a worker thread.

        An exception comes back in its item's place. Waiting is bounded as for ``run``,
        per item: once a wait that long sees no item finish, the items not done come
        back as ``on_timeout(item)`` and the thread starts no more of them.
        """
        done: list[T | Exception] = []
        stop = threading.Event()

        def each() -> None:
            for item in items:
                if stop.is_set():
                    return
                try:
                    done.append(func(item))
                except Exception as exc:  # the item's own failure, handed back in its place
                    done.append(exc)

        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool(), each)
        seen = -1
        while seen < len(done):  # waiting on as long as each wait saw a render finish
            seen = len(done)
            try:
                await asyncio.wait_for(asyncio.shield(future), self._wait)
                return done
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                stop.set()
                raise
        stop.set()
        finished = done[:]
        return [*finished, *(on_timeout(item) for item in items[len(finished) :])]

    def close(self) -> None:
        """Let the worker threads end once their renders finish."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="render")
            return self._executor
