"""The ``notifier`` command: usage errors exit 2, other errors 1, one line on stderr."""

from __future__ import annotations

import os
import sys

import typer

# Each module registers its commands on ``app`` when imported.
# (Add one line per command module here.)
from notifier.cli import (  # noqa: F401
    channels,
    daemon,
    db,
    imports,
    incident_open,
    incidents,
    ledger,
    messages,
    ops,
    rules,
)
from notifier.cli.app import app
from notifier.config_errors import SettingsError
from notifier.domain.errors import NotifierError
from notifier.store.availability import driver_error_text

# Typer may vendor its own click: find its exception classes through a public one.
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; never prints a traceback for an expected failure."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="notifier", standalone_mode=False)
    except typer.Abort:
        print("notifier: aborted", file=sys.stderr)
        return 1
    except _UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: show its help
            print(_message(exc))
            return 2
        print(f"notifier: usage error: {_usage_line(exc)}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code)
    except _ClickException as exc:
        print(f"notifier: error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    except SettingsError as exc:  # a bad environment is an error, not a usage error
        for problem in exc.problems:
            print(f"notifier: error: {problem}", file=sys.stderr)
        return 1
    except NotifierError as exc:
        print(f"notifier: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("NOTIFIER_DEBUG"):
            raise
        database = driver_error_text(exc)
        if database is not None:
            print(f"notifier: error: {_database_problem(database)}", file=sys.stderr)
        else:
            print(f"notifier: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return int(result) if isinstance(result, int) else 0


def _message(exc: Exception) -> str:
    format_message = getattr(exc, "format_message", None)
    return str(format_message()) if callable(format_message) else str(exc)


def _usage_line(exc: Exception) -> str:
    message = _message(exc).replace("Value error, ", "")
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", "") if ctx else ""
    return f"{message} (see '{path} --help')" if path else message


def _database_problem(text: str) -> str:
    if "no such table" in text or ("does not exist" in text and "relation" in text):
        return "the database is not migrated: run 'notifier db upgrade'"
    return f"database: {text.splitlines()[0]}"


if __name__ == "__main__":
    sys.exit(main())
