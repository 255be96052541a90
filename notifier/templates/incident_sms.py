"""How many SMS segments an ops text of an incident takes, once the template wraps it.

One measure for ``notifier incident open|update|resolve`` and for the maintenance files
``rules check`` reads: the crisis message's SMS rendered with the ``delivery`` sample
(a long name, a reference, a link) in each locale the texts are written in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from notifier.domain.crisis import incident_variable
from notifier.domain.incidents import Incident, Segment, Severity, Step
from notifier.domain.models import ChannelName, IncidentStatus
from notifier.templates.render import Rendered, TemplateError
from notifier.templates.samples import SAMPLES

SAMPLE = "delivery"  # the sample a text's SMS is measured with: long name, reference, link


class SmsRenderer(Protocol):
    def render(
        self, message: str, channel: ChannelName, locale: str, context: Mapping[str, object]
    ) -> Rendered: ...


@dataclass(frozen=True, slots=True)
class SmsOverflow:
    """A locale whose SMS takes more segments than allowed."""

    locale: str
    segments: int

    def describe(self, message: str, max_segments: int) -> str:
        """Say how long ``message``'s SMS is and what to do."""
        return (
            f"the {message} SMS in {self.locale} takes {self.segments} segments "
            f"(NOTIFIER_MAX_SMS_SEGMENTS is {max_segments}): shorten it"
        )


def sms_overflows(
    renderer: SmsRenderer,
    message: str,
    titles: Mapping[str, str],
    texts: Mapping[str, str],
    estimate_at: datetime | None,
    now: datetime,
    *,
    default_locale: str,
    max_segments: int,
) -> list[SmsOverflow]:
    """Return each locale of ``titles`` and ``texts`` whose ``message`` SMS is too long.

    A message with no SMS template for a locale has nothing to measure there.
    """
    step = Step(0, "opened", IncidentStatus.INVESTIGATING, dict(texts), estimate_at, now)
    variable = incident_variable(_sample(titles, now), step, True)
    found: list[SmsOverflow] = []
    for locale in sorted({*titles, *texts} or {default_locale}):
        context = dict(SAMPLES[SAMPLE])
        context["incident"] = variable
        customer = context.get("customer")
        if isinstance(customer, Mapping):  # the text's own locale reads it
            context["customer"] = {**customer, "locale": locale}
        try:
            rendered = renderer.render(message, "sms", locale, context)
        except TemplateError:
            continue
        if rendered.sms is not None and rendered.sms.segments > max_segments:
            found.append(SmsOverflow(locale, rendered.sms.segments))
    return found


def _sample(titles: Mapping[str, str], now: datetime) -> Incident:
    return Incident(
        id=1, titles=dict(titles), severity=Severity.MAJOR, segment=Segment({}, ()),
        status=IncidentStatus.INVESTIGATING, opened_at=now, opened_by="", steps=(),
    )  # fmt: skip
