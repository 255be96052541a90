"""Logs (structlog, JSON off a terminal) with personal data masked, and the metrics."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_PHONE = re.compile(r"\+\d{6,15}")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
# Fields that may carry an address; message bodies are never logged at all.
_ADDRESS_FIELDS = ("to", "address", "phone", "email", "whatsapp", "from_")


def mask_phone(value: str) -> str:
    """'+5491155551234' -> '+54911****1234': enough to tell numbers apart, not to dial."""
    return _PHONE.sub(lambda m: m.group(0)[:6] + "****" + m.group(0)[-4:], value)


def mask_email(value: str) -> str:
    """'ana.perez@example.com' -> 'a***@example.com'."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def mask(value: str) -> str:
    """Mask every phone number and email address in ``value``."""
    return mask_email(mask_phone(value))


def _mask_processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if isinstance(value, str) and (
            key in _ADDRESS_FIELDS or key in ("event", "error", "reason")
        ):
            event[key] = mask(value)
        elif key in ("body", "text", "html", "subject"):
            event[key] = "[withheld]"
    return event


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Send structlog's events to stderr: JSON in production, readable on a terminal."""
    json_out = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_out
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # APScheduler logs through the standard library; its notes on skipped or coalesced runs
    # are expected here (the scan never overlaps itself by design), its errors are not.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _mask_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


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
