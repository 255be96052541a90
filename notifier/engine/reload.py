"""Rules and templates, reloaded on SIGHUP or a file change through the one checker.

A set with problems is never loaded: the problems are logged as path:line:column,
shown on /readyz and counted, and the last good set keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import structlog
from watchfiles import awatch

from notifier.clock import Clock
from notifier.config import Settings
from notifier.domain.rules.model import RuleSet
from notifier.engine.rules_check import RuleLoad, defaults_from_settings, load_rules
from notifier.observability import Metrics
from notifier.store.store import Store
from notifier.templates import Renderer

log = structlog.get_logger("notifier.reload")


class Reloader:
    def __init__(self, settings: Settings, store: Store, clock: Clock, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.rules: RuleSet | None = None
        self.renderer: Renderer | None = None  # the set in force, once one loaded
        self.problems: list[str] = []
        self.on_reload: Callable[[Renderer], None] = lambda _: None
        self._requested = asyncio.Event()
        self._recheck: asyncio.Task[int] | None = None
        self._folders = [
            p for p in (settings.rules_dir, settings.templates_dir) if Path(p).is_dir()
        ]

    def load(self) -> RuleLoad:
        """Check and load the files; keep the last good set when the new one has problems."""
        renderer = Renderer.from_settings(self.settings)
        result = load_rules(
            Path(self.settings.rules_dir), renderer, defaults_from_settings(self.settings)
        )
        errors = [str(p) for p in result.problems if p.severity == "error"]
        self.metrics.rules_problems.set(len(errors))
        for problem in result.problems:
            log.warning("rules.problem", problem=str(problem))
        if result.rules is None:
            self.problems[:] = errors  # the same list /readyz shows
            self.metrics.rules_reload.labels("refused").inc()
            return result
        self.rules, self.renderer = result.rules, renderer
        self.problems.clear()
        self.metrics.rules_reload.labels("loaded").inc()
        return result

    def request(self) -> None:
        """Reload soon (SIGHUP)."""
        self._requested.set()

    async def watch(self, stopping: asyncio.Event) -> None:
        """Reload on SIGHUP and whenever a file under the rules or templates folders changes."""
        watcher = asyncio.create_task(self._watch_files(stopping))
        try:
            while not stopping.is_set():
                waiters = [asyncio.ensure_future(self._requested.wait()),
                           asyncio.ensure_future(stopping.wait())]  # fmt: skip
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
                if stopping.is_set():
                    break
                self._requested.clear()
                await self.reload()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    async def reload(self) -> bool:
        """Reload now; True when the new set is in force."""
        result = self.load()
        now = self.clock.now()
        if result.rules is None:
            log.error("rules.reload_refused", problems=len(self.problems))
            await self.store.publish("rules", {"ok": False, "problems": self.problems}, now)
            return False
        assert self.renderer is not None  # set with the rules that just loaded
        self.on_reload(self.renderer)
        await self.store.publish(
            "rules", {"ok": True, "rules": len(result.rules.rules), "problems": []}, now
        )
        log.info("rules.reloaded", rules=len(result.rules.rules))
        # New rules may fire sooner or later than the old ones: look at every unsettled
        # promise again, in batches, in the background.
        self._recheck = asyncio.create_task(self.store.recheck_unsettled(now))
        return True

    async def _watch_files(self, stopping: asyncio.Event) -> None:
        paths = self._folders
        if not paths:
            return
        try:
            async for _ in awatch(*paths, stop_event=stopping, debounce=300, recursive=True):
                self.request()
        except Exception:  # watching is a convenience; SIGHUP still works
            log.exception("reload.watch_failed")
