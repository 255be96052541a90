"""The ``notifier`` command: usage errors exit 2, other errors 1, one line on stderr."""

from __future__ import annotations

import sys

import click

from notifier.cli.app import app
from notifier.domain.errors import NotifierError

# Each module registers its commands on ``app`` when imported.
# (Add one line per command module here.)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; never prints a traceback for an expected failure."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="notifier", standalone_mode=False)
    except click.exceptions.Abort:
        print("notifier: aborted", file=sys.stderr)
        return 1
    except click.UsageError as exc:
        hint = (
            f" (see 'notifier {exc.ctx.command_path.partition(' ')[2]} --help')".replace(
                "notifier  ", "notifier "
            )
            if exc.ctx
            else ""
        )
        print(f"notifier: usage error: {exc.format_message()}{hint}", file=sys.stderr)
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        print(f"notifier: error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except NotifierError as exc:
        print(f"notifier: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
