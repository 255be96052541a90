"""ops notifications: a notification to ops has no customer

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:00:00.000000

Channel-down alerts and forwarded replies go through the outbox like any other notice,
to ops about no one customer: ``notifications.customer_id`` may be NULL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite cannot alter a column: batch mode copies the table.
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=sa.String(length=128), nullable=True)


def downgrade() -> None:
    # Rows for no customer cannot stay: the ops alerts and forwarded replies go with them.
    notification_events = sa.table("notification_events", sa.column("notification_id"))
    notifications = sa.table("notifications", sa.column("id"), sa.column("customer_id"))
    orphans = sa.select(notifications.c.id).where(notifications.c.customer_id.is_(None))
    op.execute(
        notification_events.delete().where(notification_events.c.notification_id.in_(orphans))
    )
    op.execute(notifications.delete().where(notifications.c.customer_id.is_(None)))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=sa.String(length=128), nullable=False)
