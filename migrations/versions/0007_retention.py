"""retention: purged notifications kept as tombstones, purged promises' refs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 15:00:00.000000

Past NOTIFIER_RETENTION a notification whose promise can still fire keeps its row (the
dedupe key the scan inserts against) with body, address and history gone, and
``purged_at`` set; a settled promise deleted with all its rows leaves its external ref in
``purged_promises``, so an upstream re-post of it is refused instead of notified again.
Partial indexes give the purge its candidates without walking the rows it already did.
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

# The purge's candidates, each oldest first, through an index that holds them only.
_INDEXES = (
    ("ix_notifications_unpurged", "notifications", "updated_at", "purged_at IS NULL"),
    ("ix_promises_settled", "promises", "status_changed_at",
     "next_check_at IS NULL AND status IN ('kept', 'cancelled')"),
    ("ix_promise_events_at", "promise_events", "at", None),
    ("ix_interactions_with_body", "interactions", "at", "body IS NOT NULL"),
)  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(
            sa.Column("purged_at", notifier.store.types.UTCDateTime(timezone=True), nullable=True)
        )
    # An index built beforehand (CREATE INDEX CONCURRENTLY, docs/operations.md) is kept.
    for name, table, column, where in _INDEXES:
        op.create_index(
            name, table, [column], unique=False, if_not_exists=True,
            sqlite_where=sa.text(where) if where else None,
            postgresql_where=sa.text(where) if where else None,
        )  # fmt: skip
    op.create_table(
        "purged_promises",
        sa.Column("external_ref", sa.String(length=200), nullable=False),
        sa.Column("purged_at", notifier.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("external_ref"),
    )


def downgrade() -> None:
    op.drop_table("purged_promises")
    for name, table, _, _ in _INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("purged_at")
