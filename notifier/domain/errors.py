"""The error every notifier failure derives from: one clear line, no traceback."""

from __future__ import annotations

# A reason goes in a history line, a metric's log and `notifier status`: keep it short.
MAX_REASON = 300


class NotifierError(Exception):
    """A failure to report as one line; the CLI exits 1 with it, the API answers 4xx."""


class NotFoundError(NotifierError):
    """A customer, promise or notification that does not exist."""


class InvalidInputError(NotifierError):
    """Input that breaks a rule of the ledger; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class ConflictError(NotifierError):
    """A change the current state forbids (keeping a cancelled promise, say)."""


def one_line(exc: BaseException) -> str:
    """Return ``Type: message`` on one line, shortened: an exception as a history reason."""
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."
