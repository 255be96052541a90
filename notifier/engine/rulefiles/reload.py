"""Rules, maintenance files and templates, reloaded on SIGHUP or a file change through the
one checker.

A set with problems is never loaded: the problems are logged as path:line:column,
shown on /readyz and counted, and the last good set keeps serving. Nothing a file
holds ends the watch: a checker that raises refuses the set like any other problem,
and a watcher that fails is armed again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import structlog
from watchfiles import awatch

from notifier.clock import Clock
from notifier.config import RenderSettings, RuleSettings
from notifier.domain.maintenance import Maintenance
from notifier.domain.problems import Problem
from notifier.domain.published import RulesState
from notifier.domain.rules.model import RuleSet
from notifier.engine.rulefiles.check import RuleLoad, defaults_from_settings, load_rules
from notifier.engine.rulefiles.loader import describe_failure, display_path
from notifier.engine.rulefiles.ports import ReloadStore
from notifier.observability import Metrics
from notifier.templates import Renderer

log = structlog.get_logger("notifier.reload")
# A watcher that cannot arm (a folder gone) tries again, less often the longer it fails.
WATCH_RETRY = timedelta(seconds=1)
WATCH_RETRY_MAX = timedelta(minutes=1)


class Reloader:
    def __init__(
        self,
        rule_files: RuleSettings,
        render: RenderSettings,
        store: ReloadStore,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self.rule_files = rule_files
        self.render = render
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.rules: RuleSet | None = None
        self.maintenance: tuple[Maintenance, ...] = ()  # in force with the rules
        self.renderer: Renderer | None = None  # the set in force, once one loaded
        self.problems: list[str] = []
        self.on_reload: Callable[[Renderer], None] = lambda _: None
        self._requested = asyncio.Event()
        # The watcher's own stop event: watchfiles sets the event it watches with when its
        # task is cancelled, and that must never be the daemon's.
        self._stopped = asyncio.Event()
        self._recheck: asyncio.Task[int] | None = None
        self._defaults = defaults_from_settings(rule_files)  # a bad setting stops start-up
        self._folders = [
            p for p in (rule_files.rules_dir, rule_files.templates_dir) if Path(p).is_dir()
        ]

    def load(self) -> RuleLoad:
        """Check and load the files; keep the last good set when the new one has problems.

        Never raises for what the files hold: any failure becomes a problem of the set.
        """
        return self._apply(*self._check())

    def _check(self) -> tuple[Renderer | None, RuleLoad]:
        """Read, check and compile the files (rendering every template's samples)."""
        try:
            renderer = Renderer.from_settings(self.render)
            result = load_rules(Path(self.rule_files.rules_dir), renderer, self._defaults)
        except Exception as exc:  # the templates folder cannot even be listed: same refusal
            where = display_path(Path(self.rule_files.templates_dir))
            failed = Problem(where, 1, 1, describe_failure("cannot read the templates", exc))
            renderer, result = None, RuleLoad(None, (failed,), ())
        return renderer, result

    def _apply(self, renderer: Renderer | None, result: RuleLoad) -> RuleLoad:
        """Put a checked set in force, or record why it was refused."""
        errors = [str(p) for p in result.problems if p.severity == "error"]
        self.metrics.rules_problems.set(len(errors))
        for problem in result.problems:
            log.warning("rules.problem", problem=str(problem))
        if result.rules is None:
            self.problems[:] = errors  # the same list /readyz shows
            self.metrics.rules_reload.labels("refused").inc()
            return result
        self.rules, self.renderer, self.maintenance = result.rules, renderer, result.maintenance
        self.problems.clear()
        self.metrics.rules_reload.labels("loaded").inc()
        return result

    def request(self) -> None:
        """Reload soon (SIGHUP)."""
        self._requested.set()

    def stop(self) -> None:
        """End ``watch`` and its file watcher (the daemon calls this on shutdown)."""
        self._stopped.set()

    async def watch(self) -> None:
        """Reload on SIGHUP and on file changes under the folders, until ``stop``.

        A reload that fails (the store down while publishing, say) is logged; the next
        request tries again.
        """
        watcher = asyncio.create_task(self._watch_files(), name="reload-files")
        try:
            while not self._stopped.is_set():
                waiters = [asyncio.ensure_future(self._requested.wait()),
                           asyncio.ensure_future(self._stopped.wait())]  # fmt: skip
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
                if self._stopped.is_set():
                    break
                self._requested.clear()
                try:
                    await self.reload()
                except Exception as exc:
                    self.metrics.rules_reload.labels("failed").inc()
                    log.error("rules.reload_failed", error=describe_failure("reload", exc))
        finally:
            self._stopped.set()  # the watcher's thread sees it and returns
            await asyncio.gather(watcher, return_exceptions=True)

    async def reload(self) -> bool:
        """Reload now; True when the new set is in force."""
        # Checking renders every template's samples (each up to NOTIFIER_RENDER_TIMEOUT):
        # off the event loop, so the API and the scan go on meanwhile.
        result = self._apply(*await asyncio.to_thread(self._check))
        now = self.clock.now()
        if result.rules is None:
            log.error("rules.reload_refused", problems=len(self.problems))
            await self.store.publish(RulesState(ok=False, problems=tuple(self.problems)), now)
            return False
        assert self.renderer is not None  # set with the rules that just loaded
        self.on_reload(self.renderer)
        await self.store.publish(RulesState(ok=True, rules=len(result.rules.rules)), now)
        log.info("rules.reloaded", rules=len(result.rules.rules))
        # New rules may fire sooner or later than the old ones: look at every unsettled
        # promise again, in batches, in the background.
        self._recheck = asyncio.create_task(self.store.recheck_unsettled(now))
        self._recheck.add_done_callback(_log_recheck_failure)
        return True

    async def _watch_files(self) -> None:
        delay = WATCH_RETRY
        while self._folders and not self._stopped.is_set():
            try:
                async for _ in awatch(
                    *self._folders, stop_event=self._stopped, debounce=300, recursive=True
                ):
                    delay = WATCH_RETRY
                    self.request()
                return  # awatch ends only once told to stop
            except Exception as exc:  # watching is a convenience; SIGHUP still works
                self.metrics.rules_reload.labels("watch_failed").inc()
                log.error(
                    "reload.watch_failed", error=describe_failure("watch", exc),
                    retry_in=delay.total_seconds(),
                )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay.total_seconds())
            delay = min(delay * 2, WATCH_RETRY_MAX)


def _log_recheck_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("rules.recheck_failed", error=describe_failure("recheck", exc))
