"""webhook receipts and link revocations

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:33:02.429614

A replayed Twilio webhook is recognised by its key; revoked unsubscribe links by the
customer's revocation time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import notifier.store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_receipts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("received_at", notifier.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "link_revocations",
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", notifier.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id"),
    )


def downgrade() -> None:
    op.drop_table("link_revocations")
    op.drop_table("webhook_receipts")
