"""The demo's unsubscribe key: generated once per database, so its links survive restarts."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

KEY_BYTES = 32  # token_urlsafe(32) is 43 characters, past the 32 the links need


def demo_secret(database: Path | None) -> SecretStr:
    """Return the key kept beside the database file, made on first use (mode 0600).

    ``database`` is the store's file (``store.connect.database_file``): None for a database
    that is no file (PostgreSQL, SQLite in memory), which gets a key for this run only, so
    its links stop working on restart.
    """
    path = _key_file(database)
    if path is None:
        return SecretStr(secrets.token_urlsafe(KEY_BYTES))
    try:
        stored = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        stored = ""
    if stored:
        return SecretStr(stored)
    key = secrets.token_urlsafe(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another demo on this file wrote it first: use theirs
        return SecretStr(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")
    return SecretStr(key)


def _key_file(file: Path | None) -> Path | None:
    if file is None:
        return None
    database = file.resolve()
    return database.with_name(database.name + ".secret-key")
