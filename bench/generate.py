"""Fast bulk generation of a realistic ledger: customers across Latin America and Spain,
promises of every kind, written with executemany on SQLite and COPY on PostgreSQL.

A "due" promise ``i`` belongs to customer ``i`` alone (one notice, one message each) and
its check falls at ``due_start + i * due_every``; every other open promise is checked
an hour or more after ``now``, out of the consolidation window, so it only costs the scan
what an idle promise costs.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs

# (locale, timezone, phone prefix, national digits that follow)
PLACES = (
    ("es-AR", "America/Argentina/Buenos_Aires", "+54911", 8),
    ("es-AR", "America/Argentina/Cordoba", "+549351", 7),
    ("pt-BR", "America/Sao_Paulo", "+55119", 8),
    ("es-CO", "America/Bogota", "+57310", 7),
    ("es-MX", "America/Mexico_City", "+5255", 8),
    ("es-CL", "America/Santiago", "+5699", 8),
    ("es", "Europe/Madrid", "+346", 8),
    ("en", "America/New_York", "+1646555", 4),
)
NAMES = ("Ana Pérez", "João Silva", "María José Gómez", "Lucas Fernández", "Camila Rojas",
         "Pedro Álvarez", "Sofía Martins", "Diego Herrera", "Valentina Cruz", None)  # fmt: skip
KINDS = ("delivery",) * 6 + ("refund", "callback", "repair", "appointment")
DUE_KINDS = ("delivery",) * 4 + ("callback",)  # both fire exactly at their check
CARRIERS = ("andreani", "oca", "correo-argentino", "dhl", "fedex", "servientrega", "estafeta")
REGIONS = ("AMBA", "Córdoba", "São Paulo", "Bogotá", "CDMX", "Santiago", "Madrid")
# A notice's check falls this long after the deadline (rules/delivery.yaml, callback.yaml).
FIRES_AFTER = {"delivery": timedelta(hours=1, minutes=15), "callback": timedelta(minutes=15)}


@dataclass(frozen=True)
class Ledger:
    open_promises: int  # all open promises, the due ones included
    due: int
    now: datetime
    channel: str = "sms"  # every customer's last used channel
    due_start: datetime | None = None  # default: a second before ``now``
    due_every: timedelta = timedelta(0)

    @property
    def customers(self) -> int:
        """How many customers: every due promise has its own, the rest share."""
        return max(self.due, self.open_promises // 4, 1)


def phone(i: int) -> str:
    """Return customer ``i``'s phone number (unique, valid for its country)."""
    _, _, prefix, digits = PLACES[i % len(PLACES)]
    return f"{prefix}{(i // len(PLACES)) % 10**digits:0{digits}d}"


def email(i: int) -> str:
    """Return customer ``i``'s email address."""
    return f"cliente{i}@example.com"


def customer_rows(spec: Ledger) -> list[tuple[Any, ...]]:
    """Return the customers table rows."""
    rnd = random.Random(7)
    seen = spec.now - timedelta(days=2)
    rows = []
    for i in range(spec.customers):
        locale, zone, _, _ = PLACES[i % len(PLACES)]
        rows.append((f"c{i:07d}", NAMES[rnd.randrange(len(NAMES))], locale, zone, phone(i),
                     email(i), None, None, None, "[]", "{}", spec.channel, seen, None, None,
                     spec.now, spec.now))  # fmt: skip
    return rows


CUSTOMER_COLUMNS = (
    "id", "name", "locale", "timezone", "phone", "email", "whatsapp", "x_user_id",
    "preferred_channel", "opted_out", "undeliverable", "last_used_channel", "last_inbound_at",
    "last_whatsapp_inbound_at", "forgotten_at", "created_at", "updated_at",
)  # fmt: skip
PROMISE_COLUMNS = (
    "id", "customer_id", "kind", "status", "due_at", "window_start", "estimate_at",
    "attributes", "external_ref", "deadline_version", "times_broken", "next_check_at",
    "status_changed_at", "created_at", "updated_at",
)  # fmt: skip


def promise_rows(spec: Ledger) -> list[tuple[Any, ...]]:
    """Return the promises table rows: the due ones first, then the idle open ones."""
    rnd = random.Random(11)
    start = spec.due_start or spec.now - timedelta(seconds=1)
    created = spec.now - timedelta(days=3)
    rows = []
    for i in range(spec.open_promises):
        if i < spec.due:
            kind = DUE_KINDS[i % len(DUE_KINDS)]
            check = start + spec.due_every * i
            due_at = check - FIRES_AFTER[kind]
            customer = i
        else:
            kind = KINDS[rnd.randrange(len(KINDS))]
            check = spec.now + timedelta(hours=1, seconds=rnd.randrange(30 * 86400))
            due_at = check + timedelta(hours=4)
            customer = rnd.randrange(spec.customers)
        window = due_at - timedelta(hours=3) if kind in ("delivery", "appointment") else None
        attributes: dict[str, Any] = {"order_id": f"A-{1_000_000 + i}",
                                      "carrier": CARRIERS[i % len(CARRIERS)],
                                      "region": REGIONS[i % len(REGIONS)]}  # fmt: skip
        if kind == "refund":
            attributes["amount"] = round(rnd.uniform(5, 900), 2)
        rows.append((i + 1, f"c{customer:07d}", kind, "open", due_at, window, None,
                     json.dumps(attributes), f"ord-{i:08d}", 1, 0, check, created, created,
                     created))  # fmt: skip
    return rows


def fill(url: str, spec: Ledger) -> None:
    """Write the ledger ``spec`` describes into the empty, migrated database at ``url``."""
    customers, promises = customer_rows(spec), promise_rows(spec)
    if url.startswith("sqlite"):
        _fill_sqlite(url.split("///", 1)[1], customers, promises)
    else:
        asyncio.run(_fill_pg(url, customers, promises))


def _sqlite_time(value: Any) -> Any:
    # SQLAlchemy's SQLite DateTime text, naive UTC: comparisons in SQL are on this text.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _fill_sqlite(
    path: str, customers: list[tuple[Any, ...]], promises: list[tuple[Any, ...]]
) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA synchronous=OFF")
        for table, columns, rows in (("customers", CUSTOMER_COLUMNS, customers),
                                     ("promises", PROMISE_COLUMNS, promises)):  # fmt: skip
            marks = ",".join("?" * len(columns))
            db.executemany(
                f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})",
                ([_sqlite_time(v) for v in row] for row in rows),
            )
        db.commit()
        db.execute("ANALYZE")
    finally:
        db.close()


async def _fill_pg(
    url: str, customers: list[tuple[Any, ...]], promises: list[tuple[Any, ...]]
) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.copy_records_to_table("customers", records=customers, columns=CUSTOMER_COLUMNS)
        await conn.copy_records_to_table("promises", records=promises, columns=PROMISE_COLUMNS)
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('promises', 'id'), "
            "(SELECT max(id) FROM promises))"
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
