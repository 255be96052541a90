"""Import files read as a stream: CSV and JSON Lines records, each with its first line number.

A record comes out in the API's shape (``consent`` and ``attributes`` as objects), so the
importer validates it with the API's own schemas. Only the header (CSV) or the first
object (JSON Lines) is read ahead, to tell the kind of the rows.
"""

from __future__ import annotations

import csv
import difflib
import itertools
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Literal

from notifier.domain.errors import NotifierError
from notifier.domain.models import CHANNELS
from notifier.schemas import CustomerIn, ImportKind, InteractionIn, PromiseIn

if TYPE_CHECKING:
    from _csv import Reader

Format = Literal["csv", "jsonl"]
KINDS: tuple[ImportKind, ...] = ("customers", "promises", "interactions")
FORMAT_BY_SUFFIX: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

# The fields each kind's API body takes (plus ``id`` for customers, the URL's part), and
# the ones an import cannot do without: without external_ref or at, importing the same
# file again would add the promise or the touchpoint a second time.
FIELDS: dict[ImportKind, frozenset[str]] = {
    "customers": frozenset({"id", *CustomerIn.model_fields}),
    "promises": frozenset(PromiseIn.model_fields),
    "interactions": frozenset(InteractionIn.model_fields),
}
REQUIRED: dict[ImportKind, tuple[str, ...]] = {
    "customers": ("id",),
    "promises": ("customer_id", "kind", "due_at", "external_ref"),
    "interactions": ("customer_id", "channel", "direction", "at"),
}
# Objects in JSON, ``name.key`` columns in CSV.
NESTED = frozenset({"consent", "attributes"})
_SHARED = frozenset({"customer_id"})
BOM = b"\xef\xbb\xbf"
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}  # fmt: skip


class ImportFileError(NotifierError):
    """A file that cannot be imported at all: unreadable, or a header no row could pass."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.reason = message


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record: the line it starts on and its fields in the API's shape."""

    line: int
    fields: dict[str, object]


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad record: the line it starts on and what is wrong with it."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ImportSource:
    """An open import file: its kind (None for a file without records) and its records."""

    kind: ImportKind | None
    records: Iterator[SourceRow | RowProblem]


def format_for(name: str) -> Format | None:
    """Return the format a file name's extension stands for, or None."""
    dot = name.rfind(".")
    return FORMAT_BY_SUFFIX.get(name[dot:].lower()) if dot >= 0 else None


def infer_kind(keys: Collection[str]) -> ImportKind:
    """Return the one kind whose own fields appear among ``keys``; ImportFileError if not one."""
    names = {k.split(".", 1)[0] for k in keys}
    found = [k for k in KINDS if names & (FIELDS[k] - _SHARED)]
    if len(found) != 1:
        shown = ", ".join(sorted(keys)) or "none"
        raise ImportFileError(
            f"cannot tell customers, promises or interactions from the fields ({shown}): "
            "pass --kind"
        )
    return found[0]


def open_source(stream: BinaryIO, fmt: Format, kind: ImportKind | None) -> ImportSource:
    """Read the header or first object, check it, and return the rest as a lazy stream."""
    if fmt == "csv":
        return _open_csv(stream, kind)
    return _open_jsonl(stream, kind)


def _open_csv(stream: BinaryIO, kind: ImportKind | None) -> ImportSource:
    lines = _TextLines(stream)
    reader = csv.reader(lines, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return ImportSource(kind, iter(()))
    except csv.Error as exc:
        raise ImportFileError(f"malformed CSV header: {exc}", 1) from None
    if lines.garbled:
        raise ImportFileError("not UTF-8 text", 1)
    kind = kind or _header_kind(header)
    _check_header(header, kind)
    return ImportSource(kind, _csv_records(lines, reader, header))


class _TextLines:
    """The stream's lines as text, one at a time, noting those that are not UTF-8.

    Decoding line by line (not in large chunks) puts a bad byte on its own line.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.garbled: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for number, raw in enumerate(self.stream, start=1):
            if number == 1:
                raw = raw.removeprefix(BOM)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.garbled.add(number)
                yield raw.decode("utf-8", "replace")


def _header_kind(header: list[str]) -> ImportKind:
    try:
        return infer_kind(header)
    except ImportFileError as exc:
        raise ImportFileError(exc.reason, 1) from None


def _check_header(header: list[str], kind: ImportKind) -> None:
    allowed = FIELDS[kind]
    for column in header:
        name, dot, key = column.partition(".")
        if name in NESTED and name in allowed and dot:
            if name == "consent" and key not in CHANNELS:
                raise ImportFileError(
                    f"unknown channel in column {column!r}{_hint(key, CHANNELS)}", 1
                )
            if not key:
                raise ImportFileError(f"column {column!r} names no key", 1)
            continue
        if column not in allowed or column in NESTED:
            choices = sorted((allowed - NESTED) | {f"{n}.<key>" for n in allowed & NESTED})
            raise ImportFileError(
                f"unknown column {column!r} for {kind}{_hint(column, choices)}", 1
            )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise ImportFileError(f"column {repeated[0]!r} appears twice", 1)
    missing = [c for c in REQUIRED[kind] if c not in header]
    if missing:
        raise ImportFileError(f"missing column {missing[0]!r}: {kind} need it in an import", 1)


def _hint(word: str, options: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _csv_records(
    lines: _TextLines, reader: Reader, header: list[str]
) -> Iterator[SourceRow | RowProblem]:
    while True:
        # A quoted cell may hold newlines: a record starts on the line after the last one read.
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader drops the rest of the bad line and starts afresh on the next one.
            lines.garbled.clear()
            yield RowProblem(line, f"malformed CSV: {exc}")
            continue
        if lines.garbled:
            lines.garbled.clear()
            yield RowProblem(line, "not UTF-8 text")
            continue
        if not cells or cells == [""]:
            continue
        if len(cells) != len(header):
            yield RowProblem(line, f"{len(cells)} values for {len(header)} columns")
            continue
        yield SourceRow(line, _shape(header, cells))


def _shape(header: list[str], cells: list[str]) -> dict[str, object]:
    """Return the record as the API's body; an empty cell means the field was not given."""
    fields: dict[str, object] = {}
    for column, cell in zip(header, cells, strict=True):
        if not cell.strip():
            continue
        name, dot, key = column.partition(".")
        if dot:
            nested = fields.setdefault(name, {})
            assert isinstance(nested, dict)
            nested[key] = cell
        else:
            fields[column] = cell
    return fields


def _open_jsonl(stream: BinaryIO, kind: ImportKind | None) -> ImportSource:
    records = _jsonl_records(stream)
    if kind is not None:
        return ImportSource(kind, records)
    # Read up to the first object: it tells the kind, and what came before it still counts.
    head: list[SourceRow | RowProblem] = []
    for record in records:
        head.append(record)
        if isinstance(record, SourceRow):
            try:
                kind = infer_kind(record.fields)
            except ImportFileError as exc:
                raise ImportFileError(exc.reason, record.line) from None
            break
    return ImportSource(kind, itertools.chain(head, records))


def _jsonl_records(stream: BinaryIO) -> Iterator[SourceRow | RowProblem]:
    for line, raw in enumerate(stream, start=1):
        if line == 1:
            raw = raw.removeprefix(BOM)
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except UnicodeDecodeError:
            yield RowProblem(line, "not UTF-8 text")
            continue
        except json.JSONDecodeError as exc:
            yield RowProblem(line, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(value, dict):
            yield RowProblem(line, f"expected a JSON object, got {_JSON_TYPES[type(value)]}")
            continue
        yield SourceRow(line, value)
