"""customers by email: an index on lower(email) for the inbound email webhook

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00.000000

``POST /webhooks/email/inbound`` finds the customer who wrote by ``lower(email) =``:
without this index each reply read the whole customers table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_customers_email_lower", "customers", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_customers_email_lower", table_name="customers")
