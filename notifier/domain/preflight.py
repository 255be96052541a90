"""Pre-flight: what opening an incident would do, before anyone is told.

Each affected customer is routed as the dispatcher routes their opening (``route`` with
``last_used`` and ``CRISIS_FALLBACK``, their consent and addresses, the configured
channels, the quiet hours the incident keeps), WhatsApp outside the 24-hour window
included: without an approved Content Template Twilio refuses it (63016) and the
dispatcher tries the next channel. The tally counts customers and promises by that
channel and by locale, the skipped by cause, and keeps one customer per channel and
locale to render a sample for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from notifier.domain.fanout_time import ChannelLoad, ChannelRate, TierHold
from notifier.domain.incidents import CRISIS_FALLBACK, NewIncident, Segment
from notifier.domain.models import CHANNELS, ChannelName, Customer, Promise
from notifier.domain.quiet_hours import QuietHours
from notifier.domain.routing import RouteDecision, SkipReason, Suppress, Wait, route

FORGOTTEN = "forgotten"
NO_TEMPLATE = "no WhatsApp template"  # outside the 24 h window, and no other channel
# Why a customer is told nothing, the nearest to reachable first: a channel that is not
# configured would reach them, an address failed hard, they opted out, we have no address.
CAUSES = (
    str(SkipReason.UNAVAILABLE),
    str(SkipReason.UNDELIVERABLE),
    str(SkipReason.OPTED_OUT),
    str(SkipReason.NO_ADDRESS),
    NO_TEMPLATE,
    FORGOTTEN,
)
SAMPLE_PROMISES = 10  # a sample lists at most this many of its customer's promises


@dataclass(frozen=True, slots=True)
class Reach:
    """How one customer's opening would go: its channel, or why it goes nowhere."""

    channel: ChannelName | None
    cause: str | None = None  # one of CAUSES when channel is None
    deferred: bool = False  # in their quiet hours now: it waits for the end
    outside_window: bool = False  # WhatsApp was first, and their 24 h window is closed
    fell_back: bool = False  # ... with no Content Template: the next channel takes it


def reach(
    customer: Customer,
    available: Set[ChannelName],
    now: datetime,
    quiet: QuietHours | None,
    *,
    session_open: bool,
    has_template: bool,
) -> Reach:
    """Return where ``customer``'s opening goes now, as the dispatcher would send it."""
    if customer.forgotten:
        return Reach(None, FORGOTTEN)
    first = _route(customer, available, frozenset(), now, quiet)
    if isinstance(first, Suppress):
        return Reach(None, skip_cause(first))
    if first.channel != "whatsapp" or session_open:
        return Reach(first.channel, deferred=isinstance(first, Wait))
    if has_template:
        return Reach("whatsapp", deferred=isinstance(first, Wait), outside_window=True)
    then = _route(customer, available, frozenset({"whatsapp"}), now, quiet)
    if isinstance(then, Suppress):
        return Reach(None, NO_TEMPLATE, outside_window=True, fell_back=True)
    return Reach(then.channel, deferred=isinstance(then, Wait), outside_window=True,
                 fell_back=True)  # fmt: skip


def _route(
    customer: Customer,
    available: Set[ChannelName],
    failed: Set[ChannelName],
    now: datetime,
    quiet: QuietHours | None,
) -> RouteDecision:
    return route(customer, "last_used", CRISIS_FALLBACK, available, failed, now, quiet)


def skip_cause(decision: Suppress) -> str:
    """Return why nobody can reach the customer: the cause nearest to reachable."""
    reasons = {str(s.reason) for s in decision.skipped}
    return next((c for c in CAUSES if c in reasons), str(SkipReason.NO_ADDRESS))


@dataclass(slots=True)
class Group:
    customers: int = 0
    promises: int = 0

    def to_json(self) -> dict[str, int]:
        return {"customers": self.customers, "promises": self.promises}


@dataclass(slots=True)
class SampleCase:
    """The customer a channel and locale's sample is rendered for, with their promises."""

    channel: ChannelName
    customer: Customer
    promises: list[Promise] = field(default_factory=list)


@dataclass(slots=True)
class Tally:
    """The affected set counted as it streams by; each customer routed once."""

    by_channel: dict[ChannelName, Group] = field(
        default_factory=lambda: {c: Group() for c in CHANNELS}
    )
    by_locale: dict[str, Group] = field(default_factory=dict)
    by_channel_locale: dict[tuple[ChannelName, str], Group] = field(default_factory=dict)
    skipped: dict[str, Group] = field(default_factory=lambda: {c: Group() for c in CAUSES})
    deferred: int = 0  # customers in their quiet hours now
    outside_window: int = 0  # WhatsApp customers whose 24 h window is closed
    fell_back: int = 0  # ... of them, without a Content Template
    samples: dict[tuple[ChannelName, str], SampleCase] = field(default_factory=dict)
    affected: Group = field(default_factory=Group)
    # customer id: their opening's channel (or skip cause) and locale. One small entry per
    # customer: a customer's promises may come in several batches.
    _seen: dict[str, tuple[ChannelName | None, str | None, str]] = field(default_factory=dict)

    def add(
        self, promise: Promise, customer: Customer, reach_of: Callable[[Customer], Reach]
    ) -> None:
        """Count ``promise``; its customer is routed with ``reach_of`` the first time only."""
        key = self._seen.get(customer.id)
        if key is None:
            r = reach_of(customer)
            key = (r.channel, r.cause, customer.locale)
            self._seen[customer.id] = key
            self._first(r, customer)
        channel, cause, locale = key
        self.affected.promises += 1
        self.by_locale[locale].promises += 1
        if channel is None:
            self.skipped[cause or str(SkipReason.NO_ADDRESS)].promises += 1
            return
        self.by_channel[channel].promises += 1
        self.by_channel_locale[(channel, locale)].promises += 1
        sample = self.samples[(channel, locale)]
        if sample.customer.id == customer.id and len(sample.promises) < SAMPLE_PROMISES:
            sample.promises.append(promise)

    def _first(self, r: Reach, customer: Customer) -> None:
        self.affected.customers += 1
        self.by_locale.setdefault(customer.locale, Group()).customers += 1
        self.outside_window += r.outside_window
        self.fell_back += r.fell_back
        if r.channel is None:
            self.skipped[r.cause or str(SkipReason.NO_ADDRESS)].customers += 1
            return
        self.deferred += r.deferred
        self.by_channel[r.channel].customers += 1
        key = (r.channel, customer.locale)
        self.by_channel_locale.setdefault(key, Group()).customers += 1
        self.samples.setdefault(key, SampleCase(r.channel, customer))

    @property
    def templated(self) -> int:
        """WhatsApp customers outside the window reached with a Content Template."""
        return self.outside_window - self.fell_back

    @property
    def skipped_total(self) -> Group:
        return Group(sum(g.customers for g in self.skipped.values()),
                     sum(g.promises for g in self.skipped.values()))  # fmt: skip


def channel_loads(
    tally: Tally, sms_segments: Mapping[str, int], rates: Mapping[ChannelName, ChannelRate]
) -> list[ChannelLoad]:
    """Return each channel's load; SMS costs each locale's customers its sample's segments."""
    loads = []
    for channel in CHANNELS:
        messages = tally.by_channel[channel].customers
        cost = messages
        if channel == "sms":
            sms = [(locale, g) for (c, locale), g in tally.by_channel_locale.items() if c == "sms"]
            cost = sum(g.customers * max(sms_segments.get(locale, 1), 1) for locale, g in sms)
        loads.append(ChannelLoad(channel, messages, cost, rates[channel]))
    return loads


@dataclass(frozen=True, slots=True)
class Sample:
    """The opening as one real affected customer of a channel and locale would read it."""

    channel: ChannelName
    locale: str
    customer_id: str
    customers: int  # the customers of this channel and locale
    text: str | None
    subject: str | None = None
    segments: int | None = None  # SMS only
    error: str | None = None  # why it could not be rendered


@dataclass(frozen=True, slots=True)
class Preview:
    """Everything `incident preview` says, before anyone is told."""

    new: NewIncident
    segment: Segment
    tally: Tally
    samples: list[Sample]
    loads: list[ChannelLoad]
    duration: timedelta
    tiers: list[TierHold]
    content_sids: bool  # any Content Template configured (NOTIFIER_WHATSAPP_CONTENT_SIDS)
