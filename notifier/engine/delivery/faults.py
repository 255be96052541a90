"""One notification's fault stays with it: its failed change, its reason, its own write.

A value the dispatcher cannot work with (an amount Babel cannot format, an address too
long for its column, a routing or adapter bug) ends that row ``failed`` with a reason
naming the stage, and nothing else in the batch. See docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from jinja2 import Template

from notifier.domain.consequences import unfold
from notifier.domain.errors import one_line
from notifier.domain.models import NotificationId
from notifier.domain.outbox import WRITE_ERROR, Change, Event, Notification, back_in_outbox, failed
from notifier.engine.delivery.ports import ChangeWriter
from notifier.observability import Metrics
from notifier.templates.render import TemplateError

if TYPE_CHECKING:  # the sender writes its attempts through write_batch
    from notifier.engine.delivery.sending import Attempt

log = structlog.get_logger("notifier.dispatch")


# A batch that fails as a whole (the store, not one row) goes back for a later claim.
RELEASE_AFTER = timedelta(seconds=30)


def unfold_unwritten(changes: list[Change], a: Attempt, now: datetime) -> None:
    """Give an unsent message's members back their own rows, before anything is written.

    Their ``folded`` changes are dropped rather than undone: the row never says it was
    folded, nor that it is in flight.
    """
    if not a.members:
        return
    ids = {m.id for m in a.members}
    changes[:] = [c for c in changes if not (c.id in ids and c.folded_into == a.notification.id)]
    reason = f"notification {a.notification.id} did not go out; back in the outbox"
    changes.extend(back_in_outbox(m.id, now, Event("unfolded", reason)) for m in a.members)


def render_fault(exc: BaseException, template: Path | None) -> str:
    """Return where and what, on one line: ``templates/x/sms.es.j2: OverflowError: ...``.

    A TemplateError already names its ``path:line:column``; anything else is placed at the
    innermost template line it went through, after the message's own template.
    """
    if isinstance(exc, TemplateError):  # it names the file that raised: a macro's, maybe
        text = " ".join(str(exc).split())
        if template is None or text.startswith(str(template)):
            return text
        return f"{template}: {text}"
    where = str(template) if template is not None else "no template"
    inner = _template_line(exc)
    if inner is not None:
        path, line = inner
        where = f"{path}:{line}" if template is None or Path(path) == template else (
            f"{where} (at {path}:{line})"
        )  # fmt: skip
    return f"{where}: {one_line(exc)}"


def _template_line(exc: BaseException) -> tuple[str, int] | None:
    # Jinja's compiled templates run as Python frames that know their template.
    found = None
    tb = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if isinstance(template, Template) and template.filename:
            found = (template.filename, template.get_corresponding_lineno(tb.tb_lineno))
        tb = tb.tb_next
    return found


async def write_batch(
    store: ChangeWriter,
    changes: Sequence[Change],
    attempts: Sequence[Attempt],
    now: datetime,
    metrics: Metrics,
) -> list[Attempt]:
    """Write a claimed batch's changes; return the attempts whose rows were written.

    One write for the batch; when it fails, one per message (``write_isolated``). A row
    whose lease this process lost meanwhile (another replica adopted it) is not written
    and its attempt not returned: its send must not start, the row is the new holder's.
    """
    try:
        written = set(await store.apply_changes(changes, now))
        lost = {c.id for c in changes} - written
        return [a for a in attempts if a.notification.id not in lost]
    except Exception:
        log.warning("dispatch.batch_write_failed", count=len(changes))
    refused, lost = await write_isolated(store, changes, attempts, now)
    for _ in refused:
        metrics.dispatch_errors.labels(WRITE_ERROR).inc()
    return [a for a in attempts if a.notification.id not in refused | lost]


async def release_batch(
    store: ChangeWriter, claimed: Sequence[Notification], now: datetime, exc: Exception
) -> None:
    """Put a batch that failed as a whole back in the outbox, a little later."""
    event = Event("released", f"dispatch failed for the whole batch: {one_line(exc)}")
    later = now + RELEASE_AFTER
    try:
        await store.apply_changes(
            [back_in_outbox(n.id, later, event, unfold=True) for n in claimed], now
        )
    except Exception:  # the store is down: the leases run out and recovery takes them
        log.exception("dispatch.release_failed", count=len(claimed))


async def write_isolated(
    store: ChangeWriter, changes: Sequence[Change], attempts: Sequence[Attempt], now: datetime
) -> tuple[set[NotificationId], set[NotificationId]]:
    """Write ``changes`` message by message, after the batch's one write failed.

    A message whose changes cannot be written (a NUL or an over-long address refused by
    PostgreSQL) is written ``failed`` with ``write_error`` instead, its members unfolded.
    Return those messages' ids, and those of the messages whose lease this process lost
    meanwhile (the fenced write skipped them): neither's send may start. When even the
    fallback write fails the store itself is down: the exception goes up.
    """
    owner: dict[NotificationId, NotificationId] = {}
    for a in attempts:
        for m in a.members:
            owner[m.id] = a.notification.id
    units: dict[NotificationId, list[Change]] = {}
    for c in changes:
        units.setdefault(owner.get(c.id, c.id), []).append(c)
    by_primary = {a.notification.id: a for a in attempts}
    refused: set[NotificationId] = set()
    lost: set[NotificationId] = set()
    for primary, unit in units.items():
        try:
            written = await store.apply_changes(unit, now)
            if primary not in written and any(c.id == primary for c in unit):
                lost.add(primary)
        except Exception as exc:
            attempt = by_primary.get(primary)
            channel = attempt.route.channel if attempt is not None else None
            # A driver error's text is enough; SQLAlchemy's adds the statement and its values.
            cause = getattr(exc, "orig", None) or exc
            fallback = [failed(primary, WRITE_ERROR, one_line(cause), channel)]
            if attempt is not None:
                fallback += unfold(attempt.notification, attempt.members, now)
            await store.apply_changes(fallback, now)
            refused.add(primary)
    return refused, lost
