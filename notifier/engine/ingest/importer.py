"""Bulk import: records validated by the API's schemas, written through the ledger in batches.

Each batch is one ledger call, so one transaction; memory holds one batch, whatever the
file's size. A bad record is reported with its line and the good ones still land.
Importing the same file again changes nothing: promises upsert by external_ref,
customers write only what differs, touchpoints are deduplicated. A file that states one
key twice with different values is applied in order, so it is not idempotent.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from notifier.domain.ingest import CustomerData, InteractionData, PromiseData, RowError, Upserted
from notifier.domain.models import Source
from notifier.engine.ingest.import_files import ImportSource, RowProblem
from notifier.engine.ingest.ledger_service import Ledger
from notifier.engine.ingest.ports import TouchpointReader
from notifier.schemas import CustomerIn, ImportKind, InteractionIn, OpaqueId, PromiseIn

BATCH_SIZE = 1000
M = TypeVar("M", bound=BaseModel)
Data = CustomerData | PromiseData | InteractionData
TouchKey = tuple[str, datetime, str, str]

_ID = TypeAdapter(OpaqueId)
# What an import needs beyond the API's body: the customer's id (the API's URL holds it),
# and the keys that make importing the same file twice change nothing.
_IMPORT_ONLY: dict[ImportKind, tuple[tuple[str, str], ...]] = {
    "customers": (("id", "Field required"),),
    "promises": (
        ("external_ref", "required in an import, so that importing the file again updates "
         "the promise instead of adding it twice"),
    ),
    "interactions": (
        ("at", "required in an import, so that importing the file again does not record "
         "the touchpoint twice"),
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts of records: read, created, updated, unchanged and bad."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.rows + other.rows,
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.bad + other.bad,
        )


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one committed batch did, and its bad records in line order."""

    tally: Tally
    problems: tuple[RowProblem, ...]


class InvalidRecord(Exception):
    """A record the schema refused; the message names each field at fault."""


async def import_records(
    ledger: Ledger, source: ImportSource, *, batch_size: int = BATCH_SIZE
) -> AsyncIterator[BatchReport]:
    """Validate and write the records batch by batch; yield a report after each commit."""
    if source.kind is None:
        return
    kind = source.kind
    for chunk in _chunks(source.records, batch_size):
        now = ledger.clock.now()
        problems: list[RowProblem] = []
        lines: list[int] = []
        items: list[Data] = []
        for record in chunk:
            if isinstance(record, RowProblem):
                problems.append(record)
                continue
            try:
                items.append(to_data(kind, record.fields, now))
                lines.append(record.line)
            except InvalidRecord as exc:
                problems.append(RowProblem(record.line, str(exc)))
        tally = await _write(ledger, kind, items, lines, problems)
        problems.sort(key=lambda p: p.line)
        yield BatchReport(tally + Tally(rows=len(chunk), bad=len(problems)), tuple(problems))


def to_data(kind: ImportKind, fields: Mapping[str, object], now: datetime) -> Data:
    """Return the record as ledger input, validated as the API validates its body."""
    reasons = [f"{name}: {why}" for name, why in _IMPORT_ONLY[kind] if fields.get(name) is None]
    if kind == "customers":
        customer_id = ""
        if fields.get("id") is not None:
            try:
                customer_id = _ID.validate_python(fields["id"])
            except ValidationError as exc:
                reasons.extend(_reasons(exc, "id"))
        body = {k: v for k, v in fields.items() if k != "id"}
        return _validated(CustomerIn, body, reasons).to_data(customer_id)
    if kind == "promises":
        return _validated(PromiseIn, fields, reasons).to_data(default_ref="")
    return _validated(InteractionIn, fields, reasons).to_data(now)


def _validated(model: type[M], fields: Mapping[str, object], reasons: list[str]) -> M:
    try:
        body = model.model_validate(fields)
    except ValidationError as exc:
        reasons.extend(_reasons(exc))
    if reasons:
        raise InvalidRecord("; ".join(reasons))
    return body


def _reasons(exc: ValidationError, prefix: str = "") -> list[str]:
    """Return ``field: message`` per error, in the words the API uses."""
    reasons = []
    for error in exc.errors(include_url=False):
        parts = ([prefix] if prefix else []) + [str(part) for part in error["loc"]]
        where = ".".join(parts)
        reasons.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return reasons


async def _write(
    ledger: Ledger,
    kind: ImportKind,
    items: list[Data],
    lines: list[int],
    problems: list[RowProblem],
) -> Tally:
    if not items:
        return Tally()
    if kind == "customers":
        customers = [i for i in items if isinstance(i, CustomerData)]
        return _count(await ledger.put_customers(customers), lines, problems)
    if kind == "promises":
        promises = [i for i in items if isinstance(i, PromiseData)]
        return _count(await ledger.put_promises(promises, Source.IMPORT), lines, problems)
    touches = [i for i in items if isinstance(i, InteractionData)]
    known = await known_touchpoints(ledger.store, touches)
    results = await ledger.add_interactions(touches)
    outcomes: list[Upserted | RowError] = []
    for item, result in zip(touches, results, strict=True):
        if isinstance(result, RowError):
            outcomes.append(result)
            continue
        key = _touch_key(item)
        outcomes.append(Upserted(result, created=key not in known, changed=key not in known))
        known.add(key)
    return _count(outcomes, lines, problems)


def _count(
    results: Sequence[Upserted | RowError], lines: list[int], problems: list[RowProblem]
) -> Tally:
    created = updated = unchanged = 0
    for line, result in zip(lines, results, strict=True):
        if isinstance(result, RowError):
            problems.append(RowProblem(line, f"{result.field}: {result.message}"))
        elif result.created:
            created += 1
        elif result.changed:
            updated += 1
        else:
            unchanged += 1
    return Tally(created=created, updated=updated, unchanged=unchanged)


async def known_touchpoints(
    store: TouchpointReader, items: Sequence[InteractionData]
) -> set[TouchKey]:
    """Return which of ``items`` the ledger already holds (the dedupe key of each).

    The store answers: ``add_interactions`` returns the id of a touchpoint it already
    had exactly as it returns a new one, so the import asks first.
    """
    return await store.known_touchpoints(items)


def _touch_key(item: InteractionData) -> TouchKey:
    return (item.customer_id, item.at, item.channel, item.direction.value)


T = TypeVar("T")


def _chunks(records: Iterator[T], size: int) -> Iterator[list[T]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk
