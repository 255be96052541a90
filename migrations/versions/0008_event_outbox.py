"""event outbox: outbound events for the CRM, and each stream's last sequence

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:00:00.000000

Every notification status change and every promise state change is written here in the
transaction of the change (when NOTIFIER_EVENTS_URL is set); the relay posts each
stream's events in sequence order. ``event_sequences`` keeps the numbering once delivered
events are deleted.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from notifier.store.types import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = "delivered_at IS NULL AND parked_at IS NULL"


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "event_outbox",
        sa.Column("id", big_id, primary_key=True),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("not_before", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("parked_at", UTCDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("stream", "sequence", name="uq_event_outbox_stream_sequence"),
    )
    op.create_index(
        "ix_event_outbox_pending",
        "event_outbox",
        ["stream", "sequence"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_index(
        "ix_event_outbox_due",
        "event_outbox",
        ["not_before", "id"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_table(
        "event_sequences",
        sa.Column("stream", sa.String(length=160), primary_key=True),
        sa.Column("last", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_sequences")
    op.drop_index("ix_event_outbox_due", table_name="event_outbox")
    op.drop_index("ix_event_outbox_pending", table_name="event_outbox")
    op.drop_table("event_outbox")
