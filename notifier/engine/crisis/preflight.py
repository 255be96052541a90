"""`incident preview` (and `open --dry-run`): the affected set counted, routed, sampled and
timed, before anyone is told; nothing is written.

The affected set streams in batches from the same reader the planner joins with
(``preview_affected``); each customer is routed once (``domain/preflight.py``); each
channel and locale present gets its opening rendered with the real template and the
operator's texts for one real customer of theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from notifier.channels.twilio_whatsapp import content_sid_for, is_session_open
from notifier.config import RateSettings
from notifier.domain.crisis import incident_variable
from notifier.domain.errors import one_line
from notifier.domain.fanout_time import ChannelRate, fanout_time, tier_holds
from notifier.domain.incidents import (
    OPENED,
    Incident,
    NewIncident,
    Step,
    check_channels,
    segment_of,
)
from notifier.domain.models import ChannelName, Customer, IncidentStatus
from notifier.domain.preflight import (
    Preview,
    Reach,
    Sample,
    SampleCase,
    Tally,
    channel_loads,
    reach,
)
from notifier.domain.quiet_hours import QuietHours
from notifier.engine.crisis.planner import crisis_quiet_hours
from notifier.engine.crisis.ports import AffectedReader
from notifier.templates import Company, Renderer, build_context


def channel_rates(s: RateSettings) -> dict[ChannelName, ChannelRate]:
    """Return each channel's sender rate as the dispatcher applies it (NOTIFIER_RATE_*)."""
    return {
        "sms": ChannelRate(s.rate_sms),
        "whatsapp": ChannelRate(s.rate_whatsapp),
        "email": ChannelRate(s.rate_email),
        "x": ChannelRate(s.rate_x, s.x_daily_quota),
    }


@dataclass(frozen=True, slots=True)
class Reachability:
    """What the daemon would send with: its channels, rates, templates and quiet hours."""

    available: frozenset[ChannelName]
    rates: Mapping[ChannelName, ChannelRate]
    company: Company
    content_sids: Mapping[str, str] = field(default_factory=dict)
    quiet: QuietHours | None = None  # the customers' quiet hours (the rules' default)
    currency: str = "USD"


async def preview(
    store: AffectedReader,
    new: NewIncident,
    where: Reachability,
    renderer: Renderer | None,
    now: datetime,
) -> Preview:
    """Return what opening ``new`` would do now; reads the affected set once, writes nothing."""
    segment = segment_of(new.segment)
    quiet = crisis_quiet_hours(where.quiet, new.through_quiet_hours)

    def reach_of(customer: Customer) -> Reach:
        sid = content_sid_for(where.content_sids, OPENED, customer.locale)
        session = is_session_open(customer.last_whatsapp_inbound_at, now)
        return reach(customer, where.available, now, quiet, session_open=session,
                     has_template=sid is not None)  # fmt: skip

    tally = Tally()
    async for batch in store.preview_affected(segment):
        for promise, customer in batch:
            tally.add(promise, customer, reach_of)
    incident = _incident(new, now)
    samples = [
        _sample(renderer, where, incident, case, tally.by_channel_locale[key].customers, now)
        for key, case in sorted(tally.samples.items())
    ]
    segments = {s.locale: s.segments for s in samples if s.channel == "sms" and s.segments}
    loads = channel_loads(tally, segments, where.rates)
    return Preview(new, segment, tally, samples, loads, fanout_time(loads),
                   tier_holds(tally.templated), bool(where.content_sids))  # fmt: skip


def _incident(new: NewIncident, now: datetime) -> Incident:
    """The incident as it would be opened: what its templates read (id 0: none yet)."""
    step = Step(0, "opened", IncidentStatus.INVESTIGATING, dict(new.messages), new.estimate_at,
                now)  # fmt: skip
    return Incident(
        id=0, titles=dict(new.titles), severity=new.severity, segment=segment_of(new.segment),
        status=IncidentStatus.INVESTIGATING, opened_at=now, opened_by=new.by, steps=(step,),
        through_quiet_hours=new.through_quiet_hours, updates_on=check_channels(new.updates_on),
    )  # fmt: skip


def _sample(
    renderer: Renderer | None,
    where: Reachability,
    incident: Incident,
    case: SampleCase,
    customers: int,
    now: datetime,
) -> Sample:
    """Render the opening for ``case``'s customer on its channel, as the dispatcher would."""
    channel, customer = case.channel, case.customer
    locale = customer.locale
    if renderer is None:
        return Sample(channel, locale, customer.id, customers, None,
                      error="no templates folder (NOTIFIER_TEMPLATES_DIR)")  # fmt: skip
    first, *others = case.promises
    variable = incident_variable(incident, incident.latest, False)
    context = build_context(customer, first, others=others, company=where.company, now=now,
                            currency=where.currency, incident=variable)  # fmt: skip
    try:
        rendered = renderer.render(OPENED, channel, customer.locale, context)
    except Exception as exc:  # the preview shows it; the real send would fail the same way
        return Sample(channel, locale, customer.id, customers, None, error=one_line(exc))
    segments = rendered.sms.segments if rendered.sms is not None else None
    return Sample(channel, locale, customer.id, customers, rendered.text, rendered.subject,
                  segments)  # fmt: skip
