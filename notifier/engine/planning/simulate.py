"""``notifier simulate``: read the store once, then step the daemon's decisions without it."""

from __future__ import annotations

from datetime import datetime, timedelta

from notifier.config import DispatchSettings, ScanSettings
from notifier.domain.dispatch import DAY
from notifier.domain.forecast import Conditions, Forecast, World
from notifier.domain.models import CHANNELS, ChannelName, CustomerId, PromiseId
from notifier.domain.rules.model import RuleSet
from notifier.domain.simulation import simulate
from notifier.engine.planning.ports import ForecastStore

# Enough for any outbox we run; a bigger one would need the simulation to page.
LIMIT = 1_000_000


async def forecast(
    store: ForecastStore,
    rules: RuleSet,
    dispatch: DispatchSettings,
    scan: ScanSettings,
    available: frozenset[ChannelName],
    start: datetime,
    end: datetime,
    *,
    step: timedelta | None = None,
) -> Forecast:
    """Return what the daemon would send from ``start`` until ``end``; writes nothing.

    ``available`` are the configured channels; those found down and those paused by ops
    are read from the store. ``step`` is the daemon's tick (NOTIFIER_SCAN_INTERVAL).
    """
    window = dispatch.consolidation_window
    # Promises checked a little after the end still hold back notices due just before it.
    due = await store.due_promises(end + window, LIMIT)
    pending = await store.pending_notifications(LIMIT)
    pauses = await store.pauses(start)
    kinds: dict[str, set[str]] = {"channel": set(), "rule": set(), "down": set()}
    for p in pauses:
        kinds.setdefault(p.kind, set()).add(p.target)
    known_customers = {d.customer.id for d in due}
    known_promises = {d.promise.id for d in due}
    wanted_customers = {
        cid for p in pending if (cid := p.notification.customer_id) is not None
    } - known_customers
    wanted_promises = {
        p.notification.promise_id for p in pending if p.notification.promise_id is not None
    } - known_promises
    customers = await store.get_customers(sorted(wanted_customers))
    settled = await store.get_promises(sorted(wanted_promises))
    sent = await store.sent_since(sorted(known_customers | wanted_customers), start - DAY)
    world = World(
        promises=due,
        pending=pending,
        customers={CustomerId(k): v for k, v in customers.items()},
        settled={PromiseId(k): v for k, v in settled.items()},
        sent={CustomerId(k): v for k, v in sent.items()},
    )
    conditions = Conditions(
        available=frozenset(c for c in available if c not in kinds["down"]),
        paused_channels=frozenset(c for c in CHANNELS if c in kinds["channel"]),
        paused_rules=frozenset(kinds["rule"]),
        ops_address=dispatch.ops_email,
        cap=dispatch.frequency_cap,
        window=window,
        step=step or scan.scan_interval,
    )
    return simulate(world, rules, conditions, start, end)
