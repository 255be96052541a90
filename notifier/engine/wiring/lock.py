"""One daemon per SQLite database: SQLite has one writer, and two dispatchers would race."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy import make_url

from notifier.domain.errors import NotifierError


class AlreadyRunningError(NotifierError):
    """Another ``notifier run`` holds this database."""


@dataclass
class DaemonLock:
    path: Path | None  # None: no lock needed (PostgreSQL claims with SKIP LOCKED)
    _file: TextIO | None = None

    @classmethod
    def for_url(cls, url: str) -> DaemonLock:
        """Return the lock for ``url``: a file beside a SQLite database, none otherwise."""
        parsed = make_url(url)
        if not parsed.drivername.startswith("sqlite") or not parsed.database:
            return cls(None)
        if parsed.database == ":memory:":
            return cls(None)
        return cls(Path(parsed.database).resolve().with_name(Path(parsed.database).name + ".lock"))

    def acquire(self) -> None:
        """Take the lock (a no-op when already held) or raise AlreadyRunningError."""
        if self.path is None or self._file is not None:
            return
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunningError(
                f"another notifier daemon ({holder}) is already running on "
                f"{self.path.with_suffix('')}; SQLite allows one: stop it first, or use "
                "PostgreSQL for several"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Let the next daemon start."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
