"""rate buckets: one rate per channel and sender for the whole cluster

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00.000000

Every replica reserves its sends in the same row (GCRA: the next grant's earliest
instant), so the configured rate holds whatever the number of replicas; the X daily
quota is counted here too and survives a restart.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=128), nullable=False),
        sa.Column("tat", sa.Double(), nullable=False),
        sa.Column("blocked_until", sa.Double(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("day_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "sender"),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
