"""The error every notifier failure derives from: one clear line, no traceback."""

from __future__ import annotations


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
