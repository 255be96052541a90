"""Logs (structlog, JSON off a terminal) with personal data masked, and the metrics.

One pipeline for every log line, notifier's own and the standard library's (uvicorn,
APScheduler, asyncio): exceptions become data (type, message, frames as a list) in JSON,
never ``Traceback (most recent call last)`` text, and the masking runs last, on the
rendered line, so no value escapes it, nested, in an exception message or in a repr.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import Processor

# A + (or %2B, URL-encoded) and 7 to 15 digits, each optionally after one or two of
# space . - ( ): +5491155551234, +54 9 11 5555-1234, +1 (212) 555-0117.
_PHONE = re.compile(r"(?:\+|%2[Bb])\d(?:[ .()-]{0,2}\d){6,14}")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
# Message content is never logged, whatever the nesting: these keys are withheld.
_WITHHELD = frozenset({"body", "text", "html", "subject"})
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def mask_phone(value: str) -> str:
    """'+5491155551234' -> '+54911****1234': enough to tell numbers apart, not to dial.

    Formatted numbers ('+54 9 11 5555-1234') come out the same way, digits only.
    """
    return _PHONE.sub(_masked_number, value)


def _masked_number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0).removeprefix("%2B").removeprefix("%2b"))
    head = max(1, min(5, len(digits) - 8))  # a short number keeps fewer leading digits
    return f"+{digits[:head]}****{digits[-4:]}"


def mask_email(value: str) -> str:
    """'ana.perez@example.com' -> 'a***@example.com'."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def mask(value: str) -> str:
    """Mask every phone number and email address in ``value``."""
    # Most lines hold neither; the membership tests spare them both scans.
    if "+" in value or "%2" in value:
        value = mask_phone(value)
    return mask_email(value) if "@" in value else value


def _withhold(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: "[withheld]" if k in _WITHHELD else _withhold(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_withhold(v) for v in value]
    return value


def _withhold_content(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        event[key] = "[withheld]" if key in _WITHHELD else _withhold(value)
    return event


def _strip_message(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # A library's message may end in a newline (uvicorn's "Exception in ASGI application\n").
    if isinstance(event.get("event"), str):
        event["event"] = event["event"].strip()
    return event


def _mask_rendered(_: Any, __: str, line: Any) -> str:
    # After the renderer (``line`` is its string): every value is in the line by now,
    # however deeply it was nested, whatever its repr, exception messages included.
    return mask(str(line))


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Send every log line to stderr: JSON in production, readable on a terminal."""
    json_out = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    exceptions: Processor = (
        # Locals stay out: they hold addresses, message bodies and secrets.
        ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        if json_out
        else structlog.processors.format_exc_info
    )
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json_out
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    stamped: list[Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendered: list[Processor] = [exceptions, _withhold_content, renderer, _mask_rendered]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *stamped, *rendered],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_logger_name,
                _strip_message,
                *stamped,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendered],
        ),
        max(numeric, logging.WARNING),
    )
    if json_out:
        _route_uncaught()


def _route_standard_logging(formatter: logging.Formatter, level: int) -> None:
    """Put the standard library's records (uvicorn's among them) through ``formatter``.

    Libraries log below WARNING only when asked: their INFO lines are not ours to show.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "notifier", False):  # ours, from an earlier call
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.notifier = True  # type: ignore[attr-defined]  # marks the handler as ours
    root.addHandler(handler)
    root.setLevel(level)
    for name in _LIBRARY_LOGGERS:  # in case uvicorn's own dictConfig ran in this process
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    # APScheduler's notes on skipped or coalesced runs are expected here (the scan never
    # overlaps itself by design), its errors are not.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def _route_uncaught() -> None:
    """Log what Python would print as traceback text itself: a thread's uncaught exception,
    an exception raised where none can propagate (a __del__), a warning."""
    log = structlog.get_logger("notifier.python")

    def thread_failed(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or args.exc_type is SystemExit:
            return
        thread = args.thread.name if args.thread is not None else None
        exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
        log.error("thread.uncaught", thread=thread, exc_info=exc_info)

    def unraisable(args: Any) -> None:  # sys.UnraisableHookArgs
        exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
        log.error("python.unraisable", message=args.err_msg or "Exception ignored",
                  exc_info=exc_info if args.exc_value is not None else None)  # fmt: skip

    threading.excepthook = thread_failed
    sys.unraisablehook = unraisable
    logging.captureWarnings(True)  # as py.warnings records, through the handler above


class Metrics:
    """The Prometheus series of one process, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.notifications = Counter(
            "notifier_notifications_total", "Notification outcomes.",
            ["channel", "rule", "outcome"], registry=r,
        )  # fmt: skip
        self.provider_errors = Counter(
            "notifier_provider_errors_total", "Provider errors by code.",
            ["channel", "kind", "code"], registry=r,
        )  # fmt: skip
        self.scan_seconds = Histogram(
            "notifier_scan_duration_seconds", "Time one scan took.", registry=r
        )
        self.scanned = Counter("notifier_scanned_promises_total", "Promises scanned.", registry=r)
        self.lost_slots = Counter(
            "notifier_rate_slots_lost_total",
            "Rate-limit slots given up: the send woke past its slot's fence (a loaded machine).",
            ["channel"], registry=r,
        )  # fmt: skip
        self.dispatch_seconds = Histogram(
            "notifier_dispatch_duration_seconds", "Time one claim batch took to decide.",
            registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge("notifier_queue_depth", "Pending notifications.", registry=r)
        self.oldest_pending = Gauge(
            "notifier_oldest_pending_seconds", "Age of the oldest due pending notification.",
            registry=r,
        )  # fmt: skip
        self.rules_reload = Counter(
            "notifier_rules_reloads_total", "Rule reloads by result.", ["result"], registry=r
        )
        # Poison isolation (docs/operations.md): one bad promise or message, counted.
        self.plan_errors = Counter(
            "notifier_plan_errors_total", "Promises the scan could not plan, by rule at fault.",
            ["rule"], registry=r,
        )  # fmt: skip
        self.render_errors = Counter(
            "notifier_render_errors_total", "Notifications failed with render_error, by message.",
            ["message"], registry=r,
        )  # fmt: skip
        self.dispatch_errors = Counter(
            "notifier_dispatch_errors_total",
            "Notifications failed by an unexpected error, by reason (route_error, send_error...).",
            ["reason"], registry=r,
        )  # fmt: skip
        self.rules_problems = Gauge(
            "notifier_rules_problems", "Problems in the rule files on disk.", registry=r
        )
        # Truthful health (docs/operations.md, "Health"): what /readyz and status decide on.
        self.ready = Gauge("notifier_ready", "1 when /readyz would answer 200.", registry=r)
        self.last_scan = Gauge(
            "notifier_last_scan_timestamp_seconds", "Unix time of the last successful scan.",
            registry=r,
        )  # fmt: skip
        self.scan_failing = Gauge(
            "notifier_scan_consecutive_failures", "Scans failed in a row (0 after a success).",
            registry=r,
        )  # fmt: skip
        self.scan_failures = Counter(
            "notifier_scan_failures_total", "Scans that failed.", registry=r
        )
        self.writes_failing = Gauge(
            "notifier_outcome_write_consecutive_failures",
            "Outcome writes failed in a row (0 after a success).", registry=r,
        )  # fmt: skip
        self.write_failures = Counter(
            "notifier_outcome_write_failures_total", "Outcome writes that failed.", registry=r
        )
        self.oldest_sending = Gauge(
            "notifier_oldest_sending_seconds", "Age of the oldest notification in sending.",
            registry=r,
        )  # fmt: skip
        self.past_lease = Gauge(
            "notifier_sending_past_lease", "Notifications in sending past their lease.",
            registry=r,
        )  # fmt: skip
        # Retention (docs/operations.md, "Retention"): counted by the replica that purged.
        self.purged = Counter(
            "notifier_purged_rows_total", "Rows deleted or emptied under NOTIFIER_RETENTION.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.last_purge = Gauge(
            "notifier_last_purge_timestamp_seconds", "Unix time this process last purged.",
            registry=r,
        )  # fmt: skip
        # Outbound events for the CRM (docs/operations.md, "Outbound events").
        self.events_pending = Gauge(
            "notifier_events_pending", "Outbound events not delivered yet.", registry=r
        )
        self.events_oldest = Gauge(
            "notifier_events_oldest_pending_seconds", "Age of the oldest undelivered event.",
            registry=r,
        )  # fmt: skip
        self.events_parked = Gauge(
            "notifier_events_parked", "Events the receiver refused, kept aside.", registry=r
        )
        self.events_posts = Counter(
            "notifier_events_posts_total", "Event POSTs by outcome (delivered, retry, park).",
            ["outcome"], registry=r,
        )  # fmt: skip
