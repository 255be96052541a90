"""incident_replies: customers' replies to crisis messages, until a digest takes them to ops

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00.000000

A reply whose sender's newest message from us is an incident's is recorded here instead
of being forwarded alone; the digest job marks each with the number of the digest that
took it (``digest``), in the transaction that writes that digest's ops notification.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import notifier.store.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "incident_replies",
        sa.Column("id", big_id, nullable=False),
        sa.Column("incident_id", big_id, nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("at", notifier.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "customer_id", name="uq_incident_replies_source"),
    )
    op.create_index(
        "ix_incident_replies_customer_id", "incident_replies", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_incident_replies_digest", "incident_replies", ["incident_id", "digest"], unique=False
    )
    op.create_index(
        "ix_incident_replies_pending", "incident_replies", ["incident_id", "id"], unique=False,
        sqlite_where=sa.text("digest IS NULL"), postgresql_where=sa.text("digest IS NULL"),
    )  # fmt: skip
    op.create_index(
        "ix_incident_replies_with_body", "incident_replies", ["at"], unique=False,
        sqlite_where=sa.text("body IS NOT NULL"), postgresql_where=sa.text("body IS NOT NULL"),
    )  # fmt: skip


def downgrade() -> None:
    for name in (
        "ix_incident_replies_with_body",
        "ix_incident_replies_pending",
        "ix_incident_replies_digest",
        "ix_incident_replies_customer_id",
    ):
        op.drop_index(name, table_name="incident_replies")
    op.drop_table("incident_replies")
