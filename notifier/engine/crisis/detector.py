"""Crisis detection, run in the scan's turn before the fan-out (``planner.py``).

For each crisis rule the store counts every group with something counted in the window
(set-based), and the week before it for the groups the baseline alone can still refuse;
the domain decides which hold; the store records it (``crisis_detections``)
and returns the groups that have held for ``for`` and may fire. Each is proposed as a
detected incident (or attached to an open incident covering it) under a lock on its
row, so a second replica or a restart neither loses nor repeats one. Ops are told of each
proposal by email; one the daemon could not write yet is written on the next turn.

A rule's titles are sandboxed Jinja2, rendered for the group by the ``TitleRenderer`` the
wiring passes (under the settings' render limits). A title that fails for a group (a
``{{ 1 / 0 }}`` that compiles, a value it cannot filter) never stops the detection: that
locale gets ``fallback_title`` (the rule id and the group's values) and a warning says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from notifier.domain.detection import (
    CrisisRule,
    Numbers,
    fallback_title,
    group_values,
    holds,
    numbers_of,
    proposal,
)
from notifier.domain.errors import one_line
from notifier.domain.incident_texts import clean_text
from notifier.domain.ops_notices import crisis_detected_notice
from notifier.domain.outbox import Scheduled
from notifier.engine.crisis.ports import DetectionStore, TitleRenderer
from notifier.templates.title_templates import TitleTemplates

log = structlog.get_logger("notifier.crisis")


async def detect(
    store: DetectionStore,
    rules: Sequence[CrisisRule],
    now: datetime,
    default_locale: str,
    titles: TitleRenderer | None = None,
) -> int:
    """Evaluate every crisis rule; return how many incidents were proposed or attached to.

    A rule that fails is logged and left alone: the others still run, and it runs again
    on the next scan. ``titles`` None: the sandbox under the default render limits.
    """
    renderer = titles or TitleTemplates()
    fired = 0
    for rule in rules:
        try:
            fired += await _detect_one(store, rule, now, default_locale, renderer)
        except Exception as exc:
            log.error("crisis.detect_failed", rule=rule.id, error=one_line(exc))
    try:
        await tell_ops(store, now)
    except Exception as exc:  # the detections stay untold: the next turn tells them
        log.error("crisis.detect_tell_failed", error=one_line(exc))
    return fired


async def _detect_one(
    store: DetectionStore,
    rule: CrisisRule,
    now: datetime,
    default_locale: str,
    titles: TitleRenderer,
) -> int:
    counts = await store.crisis_counts(rule, now)
    # The baseline's history (the week of breaks before the window) is read only when a
    # group holds every other condition: a calm scan reads nothing older than its window.
    near = [c for c in counts if holds(rule, numbers_of(c, rule.window), baseline=False)]
    history = await store.crisis_history(rule, now) if near else {}
    held: dict[tuple[str, ...], Numbers] = {}
    for count in near:
        numbers = numbers_of(replace(count, history=history.get(count.values, 0)), rule.window)
        if holds(rule, numbers):
            held[count.values] = numbers
    fired = 0
    for values in await store.step_detections(rule, held, now):
        examples = await store.crisis_examples(rule, values, now)
        new = proposal(rule, values, rendered_titles(rule, values, titles), default_locale)
        result = await store.fire_detection(rule, values, examples, new, now)
        if result is None:  # another replica fired it, or it stopped holding
            continue
        fired += 1
        seen = held.get(values)
        log.warning(
            "crisis.detected", rule=rule.id, incident_id=result.incident_id,
            attached=result.attached, group=list(values),
            broken=seen.broken if seen else None, due=seen.due if seen else None,
        )  # fmt: skip
    return fired


def rendered_titles(
    rule: CrisisRule, values: Sequence[str], titles: TitleRenderer
) -> dict[str, str]:
    """Return the rule's titles for the group, per locale; one that fails gets the fallback.

    A rendered title must be one line of text, as an incident title typed by ops: one
    that comes out empty or too long falls back too.
    """
    group: Mapping[str, str] = group_values(rule, values)
    out: dict[str, str] = {}
    for locale, source in rule.titles.items():
        try:
            out[locale] = clean_text(titles.render(source, group))
        except Exception as exc:  # the title's fault: the detection goes on without it
            out[locale] = fallback_title(rule, values)
            log.warning(
                "crisis.title_failed", rule=rule.id, locale=locale, group=list(values),
                reason=one_line(exc), title=out[locale],
            )  # fmt: skip
    return out


async def tell_ops(store: DetectionStore, now: datetime) -> int:
    """Put one email to ops in the outbox for each proposal not told yet; return how many."""
    untold = await store.detections_untold()
    if not untold:
        return 0
    found = await store.incidents_by_id(sorted({d.incident_id for d in untold}))
    scheduled = []
    for d in untold:
        incident = found.get(d.incident_id)
        if d.kind != "proposed" or incident is None:
            continue  # an attachment is shown on its incident; nobody is emailed
        title = next(iter(incident.titles.values()), "")
        notice = crisis_detected_notice(d, title, incident.awaiting_confirmation, now)
        scheduled.append(Scheduled(notice, now))
    if scheduled:
        await store.enqueue(scheduled, now)  # once per key: a repeat writes nothing
    await store.mark_told([d.id for d in untold])
    return len(scheduled)
