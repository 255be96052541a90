"""customer country: ISO 3166-1 alpha-2, for the holidays of business time

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:00:00.000000

A customer may state a country; when NULL the daemon reads it off the phone number's
calling code. Rules with ``calendar: {country: customer}`` count that country's holidays.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: existing customers keep the country their phone implies.
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("country")
