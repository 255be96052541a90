"""retention: purged notifications kept as tombstones, purged promises' refs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 15:00:00.000000

Past NOTIFIER_RETENTION a notification whose promise can still fire keeps its row (the
dedupe key the scan inserts against) with body, address and history gone, and
``purged_at`` set; a settled promise deleted with all its rows leaves its external ref in
``purged_promises``, so an upstream re-post of it is refused instead of notified again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import notifier.store.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(
            sa.Column("purged_at", notifier.store.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "purged_promises",
        sa.Column("external_ref", sa.String(length=200), nullable=False),
        sa.Column("purged_at", notifier.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("external_ref"),
    )


def downgrade() -> None:
    op.drop_table("purged_promises")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("purged_at")
