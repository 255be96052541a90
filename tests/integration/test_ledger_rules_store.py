"""The store applies the ledger's rules exactly: random inputs through a real database agree
with the pure functions of ``domain/ledger.py`` folded over the same inputs.

The bulk upserts write only the columns that differ and the inbound touch is conditional
SQL; these hold both to the one definition of each rule.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.domain.ingest import CustomerData, InteractionData, PromiseData
from notifier.domain.ledger import (
    UNSTORED,
    LastInbound,
    Refusal,
    Revision,
    after_inbound,
    merge_customer,
    open_promise,
    reschedule,
    revise,
    settle,
)
from notifier.domain.models import (
    CHANNELS,
    ChannelName,
    Customer,
    CustomerId,
    Direction,
    Promise,
    PromiseEventType,
    Source,
)
from notifier.store.store import Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_examples = itertools.count()
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_times = st.integers(0, 6).map(lambda h: T0 + timedelta(hours=h))
_items = st.builds(
    lambda ref, kind, due, window, attrs: (ref, kind, due, window, attrs),
    st.sampled_from(["a", "b"]),
    st.sampled_from(["delivery", "refund"]),
    _times.map(lambda t: t + timedelta(days=1)),
    st.none() | _times,
    st.sampled_from([{}, {"carrier": "oca"}]),
)
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), st.lists(_items, min_size=1, max_size=4)),
        st.tuples(st.just("keep"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("cancel"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("reschedule"), st.sampled_from(["a", "b"]), _times),
    ),
    max_size=8,
)


def _model_step(model: dict[str, Promise], step: tuple[object, ...], now: datetime) -> None:
    """Apply one step to the model with the pure functions (refusals leave it as it was)."""
    kind, *args = step
    if kind == "upsert":
        for item in args[0]:  # type: ignore[attr-defined]
            current = model.get(item.external_ref)
            if current is None:
                model[item.external_ref] = open_promise(item, now)
                continue
            revision = revise(current, item, now)
            assert isinstance(revision, Revision)
            model[item.external_ref] = revision.promise
        return
    ref = str(args[0])
    if ref not in model:
        return
    if kind == "reschedule":
        due = args[1] + timedelta(days=1)  # type: ignore[operator]
        after: Promise | Refusal = reschedule(model[ref], due, None, now)
    else:
        event = PromiseEventType.KEPT if kind == "keep" else PromiseEventType.CANCELLED
        after = settle(model[ref], event, now)
    if isinstance(after, Promise):
        model[ref] = after


async def _store_step(
    store: Store, ids: dict[str, int], step: tuple[object, ...], now: datetime
) -> None:
    """Apply one step to the store (a refused one raises a conflict and changes nothing)."""
    kind, *args = step
    if kind == "upsert":
        batch = args[0]
        results = await store.upsert_promises(batch, Source.IMPORT, now)  # type: ignore[arg-type]
        for item, result in zip(batch, results, strict=True):  # type: ignore[call-overload]
            ids[item.external_ref] = int(result.id)
        return
    ref = str(args[0])
    if ref not in ids:
        return
    try:
        if kind == "reschedule":
            due = args[1] + timedelta(days=1)  # type: ignore[operator]
            await store.reschedule_promise(ids[ref], due, None, Source.API, now)
        else:
            event = PromiseEventType.KEPT if kind == "keep" else PromiseEventType.CANCELLED
            await store.settle_promise(ids[ref], event, Source.API, now)
    except Exception as exc:
        assert type(exc).__name__ == "ConflictError"


def _tagged(step: tuple[object, ...], tag: str) -> tuple[object, ...]:
    """Return the step with its refs made unique to one example (the database is shared)."""
    if step[0] != "upsert":
        return (step[0], f"{tag}{step[1]}", *step[2:])
    items = [
        PromiseData(CustomerId(f"{tag}c"), kind, due, f"{tag}{ref}", window, None, attrs)
        for ref, kind, due, window, attrs in step[1]  # type: ignore[attr-defined]
    ]
    return ("upsert", items)


@SETTINGS
@given(steps=_steps)
def test_promise_upserts_settles_and_reschedules_agree_with_the_pure_rules(
    db_url: str, steps: list[tuple[object, ...]]
) -> None:
    tag = f"p{next(_examples)}-"

    async def go() -> None:
        store = Store.open(db_url)
        try:
            await store.upsert_customers(
                [CustomerData(CustomerId(f"{tag}c"))], T0, default_locale="es", default_tz="UTC"
            )
            model: dict[str, Promise] = {}
            ids: dict[str, int] = {}
            for n, step in enumerate(steps):
                now = T0 + timedelta(minutes=n + 1)
                tagged = _tagged(step, tag)
                _model_step(model, tagged, now)
                await _store_step(store, ids, tagged, now)
            stored = await store.get_promises(list(ids.values()))
            assert {p.external_ref: replace(p, id=UNSTORED) for p in stored.values()} == model
        finally:
            await store.close()

    asyncio.run(go())


_customer_inputs = st.lists(
    st.builds(
        lambda values, consent: (values, consent),
        st.dictionaries(
            st.sampled_from(["name", "phone", "email", "locale", "preferred_channel"]),
            st.none() | st.sampled_from(["sms", "email"]),
            max_size=3,
        ),
        st.dictionaries(st.sampled_from(CHANNELS), st.booleans(), max_size=2),
    ),
    min_size=1,
    max_size=5,
)


@SETTINGS
@given(batches=st.lists(_customer_inputs, min_size=1, max_size=3))
def test_customer_upserts_agree_with_the_merge(
    db_url: str, batches: list[list[tuple[dict[str, str | None], dict[ChannelName, bool]]]]
) -> None:
    tag = f"c{next(_examples)}-"
    cid = CustomerId(f"{tag}c")

    async def go() -> None:
        store = Store.open(db_url)
        try:
            model: Customer | None = None
            for n, batch in enumerate(batches):
                now = T0 + timedelta(minutes=n)
                items = [CustomerData(cid, values, consent) for values, consent in batch]
                for item in items:
                    model = merge_customer(model, item, now, default_locale="es", default_tz="UTC")
                await store.upsert_customers(items, now, default_locale="es", default_tz="UTC")
                assert await store.get_customer(cid) == model
                # Marks come from sends; one after each batch tests that the next address
                # change clears it.
                await store.mark_undeliverable(cid, "email", "email")
                assert model is not None
                model = replace(model, undeliverable={**model.undeliverable, "email": "email"})
        finally:
            await store.close()

    asyncio.run(go())


_inbound = st.lists(
    st.tuples(st.sampled_from(CHANNELS), st.integers(0, 4), st.sampled_from(list(Direction))),
    min_size=1,
    max_size=8,
)


@SETTINGS
@given(batches=st.lists(_inbound, min_size=1, max_size=3))
def test_the_conditional_inbound_touch_agrees_with_after_inbound(
    db_url: str, batches: list[list[tuple[ChannelName, int, Direction]]]
) -> None:
    tag = f"i{next(_examples)}-"
    cid = CustomerId(f"{tag}c")

    async def go() -> None:
        store = Store.open(db_url)
        try:
            await store.upsert_customers(
                [CustomerData(cid)], T0, default_locale="es", default_tz="UTC"
            )
            last = LastInbound()
            for batch in batches:
                items = [
                    InteractionData(cid, channel, direction, T0 + timedelta(minutes=m))
                    for channel, m, direction in batch
                ]
                for item in items:
                    if item.direction is Direction.INBOUND:
                        last = after_inbound(last, item.channel, item.at)
                await store.add_interactions(items, T0)
                customer = await store.get_customer(cid)
                assert customer is not None
                assert (customer.last_used_channel, customer.last_whatsapp_inbound_at) == (
                    last.channel,
                    last.whatsapp_at,
                )
        finally:
            await store.close()

    asyncio.run(go())
