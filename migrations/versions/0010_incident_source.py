"""incidents.source: what opened an incident, unique (a planned maintenance opens one)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00.000000

A maintenance file opens its incident with ``source`` ``maintenance:<id>``; the unique
index makes a second opening impossible, whichever replica or restart tries. NULL for
incidents a person or crisis detection opened (any number of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )
        batch.create_index("ix_incidents_source", ["source"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_source")
        batch.drop_column("source")
