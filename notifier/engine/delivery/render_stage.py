"""The render stage of a claimed batch: each message rendered and built for its channel.

Customer messages render together in one trip to the renderer's thread; a message whose
render fails is rendered alone so that it fails on its own (``render_error``), a folded
message that fails goes out with its own notice alone, a template missing for the
channel sends the row to its next channel. See docs/operations.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog

from notifier.domain.crisis import CrisisGo, CrisisView
from notifier.domain.decide import CONSOLIDATED, CUSTOMER_GONE, final
from notifier.domain.errors import one_line
from notifier.domain.incidents import Incident
from notifier.domain.ingest import TimelineEntry
from notifier.domain.models import (
    ChannelName,
    Customer,
    JSONValue,
    NotificationId,
    NotificationStatus,
    Promise,
)
from notifier.domain.outbox import (
    COMPOSE_ERROR,
    RENDER_ERROR,
    Change,
    Event,
    Notification,
    back_in_outbox,
    failed,
)
from notifier.engine.delivery.compose import Composer, Draft
from notifier.engine.delivery.faults import render_fault, unfold_unwritten
from notifier.engine.delivery.ports import TimelineReader
from notifier.engine.delivery.sending import Attempt
from notifier.observability import Metrics
from notifier.templates import ops_context
from notifier.templates.render import Rendered, TemplateError

log = structlog.get_logger("notifier.dispatch")
OPS_TIMELINE = 30  # lines of each customer's timeline in an ops message: context, not a dump


@dataclass
class ClaimedBatch:
    """What one claim needs to decide: the rows, their customers and promises."""

    claimed: list[Notification]
    customers: dict[str, Customer]
    promises: dict[int, Promise]
    sent: dict[str, list[datetime]]
    unreadable: dict[str, str] = field(default_factory=dict)  # customer id: why
    unreadable_promises: dict[int, str] = field(default_factory=dict)  # promise id: why
    # The incident rows' threads (domain/crisis.py) and the incidents inhibiting notices.
    views: dict[tuple[int, str], CrisisView] = field(default_factory=dict)
    inhibiting: list[Incident] = field(default_factory=list)
    crises: dict[NotificationId, CrisisGo] = field(default_factory=dict)  # what each says
    changes: list[Change] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)


class RenderStage:
    """Renders a claimed batch's messages and turns each into its attempt or its failure."""

    def __init__(self, store: TimelineReader, composer: Composer, metrics: Metrics) -> None:
        self.store = store
        self.composer = composer
        self.metrics = metrics

    def _fault(
        self,
        n: Notification,
        reason: str,
        text: str,
        exc: BaseException,
        channel: ChannelName | None = None,
    ) -> Change:
        """Return the change that fails ``n`` alone, logged and counted."""
        # A value a template cannot render is the row's problem, not a bug: no traceback.
        log.warning("dispatch.row_failed", notification_id=n.id, reason=reason, error=text,
                    exc_info=reason != RENDER_ERROR)  # fmt: skip
        if reason == RENDER_ERROR:
            self.metrics.render_errors.labels(n.message).inc()
        else:
            self.metrics.dispatch_errors.labels(reason).inc()
        return failed(n.id, reason, text, channel)

    async def _render_ahead(
        self, batch: ClaimedBatch, now: datetime
    ) -> dict[int, Rendered | TemplateError]:
        """Render the batch's customer messages in one go; key: the attempt's ``id()``.

        One trip to the renderer's thread for the batch instead of one per message; a
        render that failed comes back as its error, not rendered a second time. What is
        missing here (ops messages, a context that could not be built) renders alone.
        """
        drafts = [(a, d) for a in batch.attempts
                  if (d := _draft(a, batch)).customer is not None
                  and a.notification.audience == "customer"]  # fmt: skip
        if not drafts:
            return {}
        rendered = await self.composer.render_many([d for _, d in drafts], now)
        return {id(a): r for (a, _), r in zip(drafts, rendered, strict=True) if r is not None}

    async def render(self, batch: ClaimedBatch, now: datetime) -> None:
        """Render every attempt of ``batch``; keep those that can go, fail the others alone."""
        ready: list[Attempt] = []
        ahead = await self._render_ahead(batch, now)
        for a in batch.attempts:
            n, send = a.notification, a.route
            draft = _draft(a, batch)
            customer, promise, others, message = (
                draft.customer,
                draft.promise,
                draft.others,
                draft.message,
            )
            incident = draft.incident
            if customer is None and n.customer_id is not None:  # erased meanwhile (escalation)
                unfold_unwritten(batch.changes, a, now)
                batch.changes.append(
                    final(n, NotificationStatus.CANCELLED, "cancelled", CUSTOMER_GONE)
                )
                continue
            to_ops = n.audience == "ops"
            timeline = (
                await self.store.timeline(n.customer_id)
                if to_ops and n.customer_id is not None
                else []
            )
            timelines = await self._ops_timelines(n) if to_ops else None
            template = self.composer.template_path(n, message, send.channel, customer)
            try:
                # The row's own values (a hand-edited payload, say) fail this row alone.
                ops = None if timelines is None else ops_context(n.data, timelines)
                early = ahead.pop(id(a), None)
                if isinstance(early, TemplateError):
                    raise early  # the batch's render of this row failed: the same error
                rendered = early or await self.composer.render(
                    n,
                    message,
                    send.channel,
                    customer,
                    promise,
                    others,
                    now,
                    timeline,
                    ops,
                    incident,
                )
            except Exception as exc:
                if isinstance(exc, TemplateError) and template is None:
                    # No template for this channel in any of the customer's locales: the
                    # next channel may have one. Any other error would recur there.
                    unfold_unwritten(batch.changes, a, now)
                    event = Event("failed_channel", str(exc), send.channel)
                    batch.changes.append(
                        back_in_outbox(n.id, now, event, fail_channel=send.channel)
                    )
                    continue
                if a.members:  # one of the folded promises may be the culprit: go alone
                    unfold_unwritten(batch.changes, a, now)
                    batch.attempts.append(Attempt(n, send, (), a.change))  # later in this loop
                    continue
                batch.changes.append(
                    self._fault(n, RENDER_ERROR, render_fault(exc, template), exc, send.channel)
                )
                continue
            try:
                outbound = self.composer.outbound(
                    n, rendered, send.channel, send.address, customer, now
                )
            except Exception as exc:
                unfold_unwritten(batch.changes, a, now)
                batch.changes.append(
                    self._fault(n, COMPOSE_ERROR, one_line(exc), exc, send.channel)
                )
                continue
            members: list[JSONValue] = [int(m.id) for m in a.members]
            skipped: dict[str, JSONValue] = {k.channel: str(k.reason) for k in send.skipped}
            detail: dict[str, JSONValue] = {"via": str(send.via), "message": message,
                                            "members": members, "skipped": skipped}  # fmt: skip
            # Routed elsewhere than its last try (that channel went down, say) without
            # failing there: this channel's attempts start from none too.
            fresh = n.channel is not None and n.channel != send.channel and n.attempts > 0
            if fresh:
                n = replace(n, attempts=0)
            change = Change(
                n.id, Event("attempt", f"attempt {n.attempts + 1}", send.channel, detail),
                channel=send.channel, address=send.address, subject=rendered.subject,
                body=rendered.text, message=message, attempted_at=now, count_attempt=not fresh,
                attempts=1 if fresh else None, members=_members(a),
            )  # fmt: skip
            ready.append(Attempt(n, send, a.members, change, outbound, rendered.sms))
        batch.attempts = ready

    async def _ops_timelines(self, n: Notification) -> dict[str, list[TimelineEntry]]:
        """Return the timelines an ops template shows: each customer the row names."""
        named = n.data.get("customers")
        found = named if isinstance(named, list) else []
        ids = [str(c["id"]) for c in found if isinstance(c, dict) and "id" in c]
        return {cid: await self.store.timeline(cid, limit=OPS_TIMELINE) for cid in ids}


def _draft(a: Attempt, batch: ClaimedBatch) -> Draft:
    """Return what rendering ``a`` takes from the batch: its customer, promises, message."""
    n = a.notification
    customer = batch.customers.get(n.customer_id) if n.customer_id is not None else None
    crisis = batch.crises.get(n.id)
    if crisis is not None:  # a crisis message lists the customer's promises it covers
        first = crisis.affected[0] if crisis.affected else None
        return Draft(n, crisis.message, a.route.channel, customer, first,
                     list(crisis.affected[1:]), crisis.context)  # fmt: skip
    promise = batch.promises.get(n.promise_id) if n.promise_id is not None else None
    others = [batch.promises[m.promise_id] for m in a.members
              if m.promise_id is not None and m.promise_id in batch.promises]  # fmt: skip
    message = CONSOLIDATED if a.members else n.message
    return Draft(n, message, a.route.channel, customer, promise, others)


def _members(a: Attempt) -> tuple[NotificationId, ...] | None:
    """Return the members to record on the attempt; None when the row has none either way.

    Writing members reads and rewrites the row's payload: a plain send need not pay for it.
    """
    if not a.members and not a.notification.members:
        return None
    return tuple(m.id for m in a.members)
