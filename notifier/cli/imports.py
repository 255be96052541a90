"""``notifier import FILE``: customers, promises or interactions from CSV or JSON Lines."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, BinaryIO, cast

import typer

from notifier.cli.app import JsonOption, app, bad_value, emit_json, fail, open_ledger, run_async
from notifier.engine.ingest.import_files import (
    KINDS,
    Format,
    ImportFileError,
    ImportSource,
    format_for,
    open_source,
)
from notifier.engine.ingest.importer import BATCH_SIZE, Tally, import_records
from notifier.schemas import ImportKind

FORMATS: tuple[Format, ...] = ("csv", "jsonl")


@app.command("import")
def import_file(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="A .csv, .jsonl or .ndjson file; - for stdin")
    ],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            metavar="customers|promises|interactions",
            help="Inferred from the fields when left out",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", metavar="csv|jsonl", help="Needed for stdin; else from the extension"
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=10_000, help="Rows per transaction")
    ] = BATCH_SIZE,
    as_json: bool = JsonOption,
) -> None:
    """Import rows whose fields are the API's; bad rows are reported and the rest land."""
    chosen_kind = _kind(kind)
    chosen_format = _format(file, fmt)
    label = "<stdin>" if file == "-" else file
    with ExitStack() as stack:
        stream = sys.stdin.buffer if file == "-" else stack.enter_context(_open(file))
        try:
            source = open_source(cast(BinaryIO, stream), chosen_format, chosen_kind)
        except ImportFileError as exc:
            fail(_where(label, exc))
        size = None if file == "-" else Path(file).stat().st_size
        tally = run_async(_run(source, label, stream, size, batch_size))
    if as_json:
        emit_json({"file": label, "kind": source.kind, "format": chosen_format, **asdict(tally)})
    else:
        typer.echo(
            f"imported {tally.rows} rows from {label}: {tally.created} created, "
            f"{tally.updated} updated, {tally.unchanged} unchanged, {tally.bad} bad"
        )
    if tally.bad:
        raise typer.Exit(1)


async def _run(
    source: ImportSource, label: str, stream: BinaryIO, size: int | None, batch_size: int
) -> Tally:
    tally = Tally()
    # Only a terminal gets the bar; a log file or a pipe gets the messages alone.
    bar = _Bar(label, stream, size) if sys.stderr.isatty() else None
    async with open_ledger() as ledger:
        try:
            async for report in import_records(ledger, source, batch_size=batch_size):
                tally += report.tally
                if bar is not None and report.problems:
                    bar.clear()
                for problem in report.problems:
                    typer.echo(f"{label}:{problem.line}: {problem.message}", err=True)
                if bar is not None:
                    bar.show(tally.rows)
        except ImportFileError as exc:
            fail(_where(label, exc))
        finally:
            if bar is not None:
                bar.clear()
    return tally


class _Bar:
    """A one-line bar on stderr: share of the file's bytes read, rows, rows per second."""

    def __init__(self, label: str, stream: BinaryIO, size: int | None) -> None:
        self.label = label
        self.stream = stream
        self.size = size
        self.started = time.monotonic()

    def show(self, rows: int) -> None:
        rate = rows / max(time.monotonic() - self.started, 1e-6)
        bar = ""
        if self.size:
            share = min(self.stream.tell() / self.size, 1.0)
            filled = round(share * 30)
            bar = f" [{'#' * filled}{'.' * (30 - filled)}] {share:4.0%}"
        sys.stderr.write(f"\r\033[K{self.label}{bar} {rows:,} rows, {rate:,.0f}/s")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def _open(file: str) -> BinaryIO:
    try:
        return Path(file).open("rb")
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except IsADirectoryError:
        fail(f"{file}: is a directory")
    except PermissionError:
        fail(f"{file}: permission denied")


def _kind(value: str | None) -> ImportKind | None:
    if value is None:
        return None
    for kind in KINDS:
        if kind == value:
            return kind
    bad_value("--kind", f"{value!r} is not one of {', '.join(KINDS)}")


def _format(file: str, value: str | None) -> Format:
    for fmt in FORMATS:
        if fmt == value:
            return fmt
    if value is not None:
        bad_value("--format", f"{value!r} is not one of {', '.join(FORMATS)}")
    if file == "-":
        bad_value("--format", "reading stdin needs --format csv or --format jsonl")
    found = format_for(file)
    if found is None:
        bad_value("FILE", f"cannot tell the format of {file!r}: name it .csv, .jsonl or "
                  ".ndjson, or pass --format")  # fmt: skip
    return found


def _where(label: str, exc: ImportFileError) -> str:
    return f"{label}:{exc.line}: {exc.reason}" if exc.line else f"{label}: {exc.reason}"
