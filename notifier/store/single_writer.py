"""One daemon per database file: SQLite has one writer, and two dispatchers would race.

A lock file beside the database; PostgreSQL needs none (claims use SKIP LOCKED).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from notifier.domain.errors import NotifierError
from notifier.store.connect import database_file


class AlreadyRunningError(NotifierError):
    """Another ``notifier run`` holds this database."""


@dataclass
class DaemonLock:
    path: Path | None  # None: no lock needed (PostgreSQL claims with SKIP LOCKED)
    _file: TextIO | None = None

    @classmethod
    def for_url(cls, url: str) -> DaemonLock:
        """Return the lock for ``url``: a file beside a SQLite database, none otherwise."""
        database = database_file(url)
        if database is None:
            return cls(None)
        return cls(database.resolve().with_name(database.name + ".lock"))

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
