"""A customer's timeline: promises, interactions and notifications, newest first."""

from __future__ import annotations

from sqlalchemy import select

from notifier.domain.ingest import TimelineEntry
from notifier.domain.models import PromiseId
from notifier.store.base import StoreBase
from notifier.store.convert import (
    interactions,
    notification_events,
    notifications,
    promise_events,
    promises,
)


class TimelineQueries(StoreBase):
    async def timeline(self, customer_id: str, *, limit: int = 500) -> list[TimelineEntry]:
        """Return everything that happened to the customer, newest first, in one list."""
        entries: list[TimelineEntry] = []
        async with self.reading() as conn:
            p_rows = await conn.execute(
                select(
                    promise_events,
                    promises.c.kind,
                    promises.c.external_ref,
                )
                .join(promises, promises.c.id == promise_events.c.promise_id)
                .where(promises.c.customer_id == customer_id)
            )
            for r in p_rows.mappings():
                entries.append(
                    TimelineEntry(
                        at=r["at"],
                        type=f"promise.{r['type']}",
                        summary=_promise_summary(
                            r["type"], r["kind"], r["external_ref"], r["data"]
                        ),
                        promise_id=PromiseId(r["promise_id"]),
                        data={"source": r["source"], **(r["data"] or {})},
                    )
                )
            i_rows = await conn.execute(
                select(interactions).where(interactions.c.customer_id == customer_id)
            )
            for r in i_rows.mappings():
                entries.append(
                    TimelineEntry(
                        at=r["at"],
                        type="interaction",
                        summary=f"{r['direction']} {r['channel']}",
                        data={"channel": r["channel"], "direction": r["direction"]},
                    )
                )
            n_rows = await conn.execute(
                select(
                    notification_events,
                    notifications.c.message,
                    notifications.c.promise_id,
                    notifications.c.rule_id,
                )
                .join(notifications, notifications.c.id == notification_events.c.notification_id)
                .where(notifications.c.customer_id == customer_id)
            )
            for r in n_rows.mappings():
                channel = f" on {r['channel']}" if r["channel"] else ""
                reason = f": {r['reason']}" if r["reason"] else ""
                entries.append(
                    TimelineEntry(
                        at=r["at"],
                        type=f"notification.{r['type']}",
                        summary=f"{r['message']}{channel}{reason}",
                        promise_id=PromiseId(r["promise_id"]) if r["promise_id"] else None,
                        notification_id=r["notification_id"],
                        data={"rule": r["rule_id"], "channel": r["channel"]},
                    )
                )
        entries.sort(key=_newest_first)
        return entries[:limit]


def _newest_first(entry: TimelineEntry) -> tuple[float, str]:
    return (-entry.at.timestamp(), entry.type)


def _promise_summary(type_: str, kind: str, ref: str, data: dict[str, str] | None) -> str:
    data = data or {}
    if type_ == "rescheduled":
        return f"{kind} {ref} rescheduled from {data.get('old_due_at')} to {data.get('new_due_at')}"
    if type_ == "created":
        return f"{kind} {ref} promised for {data.get('due_at')}"
    if type_ == "plan_error":
        return f"{kind} {ref} could not be planned: {data.get('reason')}"
    return f"{kind} {ref} {type_}"
