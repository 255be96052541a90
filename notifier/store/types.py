"""Column types that keep every timestamp aware UTC, SQLite included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from notifier.store.dialects import dialect_named


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that refuses naive input and returns aware UTC.

    SQLite keeps no offset, so values are stored as naive UTC and the zone is put
    back on the way out; PostgreSQL stores ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: every timestamp must be aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect_named(dialect.name).naive_timestamps else value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        # A driver that decodes aware UTC leaves nothing to do per value (a scan reads a
        # dozen of these per row).
        if dialect_named(dialect.name).decodes_aware_utc(dialect.driver):
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
