"""plan errors: the promises the scan cannot plan

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # server_default fills the rows already there: none of them is in plan error yet.
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("plan_errors", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("plan_error", sa.JSON(), nullable=True))
        batch_op.create_index(
            "ix_promises_plan_errors",
            ["plan_errors"],
            unique=False,
            sqlite_where=sa.text("plan_errors > 0"),
            postgresql_where=sa.text("plan_errors > 0"),
        )


def downgrade() -> None:
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_promises_plan_errors",
            sqlite_where=sa.text("plan_errors > 0"),
            postgresql_where=sa.text("plan_errors > 0"),
        )
        batch_op.drop_column("plan_error")
        batch_op.drop_column("plan_errors")
