"""incidents: the crisis playbook's segment, texts, state, history and fan-out

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 23:30:00.000000

``incidents`` gains its texts per locale, severity, who opened it, the kill switch, the
detection flags, its newest customer-facing step and when the planner looks next;
``incident_updates`` becomes its history (each step's texts per locale and estimate, who
did it); ``incident_customers`` holds each customer an incident touches and the newest
step planned for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import notifier.store.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, *, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, notifier.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    false = sa.text("false")
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("titles", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(
            sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                      server_default="major")
        )  # fmt: skip
        batch.add_column(
            sa.Column("opened_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False,
                      server_default="")
        )  # fmt: skip
        batch.add_column(
            sa.Column("through_quiet_hours", sa.Boolean(), nullable=False, server_default=false)
        )
        batch.add_column(sa.Column("updates_on", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(_at("paused_at", nullable=True))
        batch.add_column(sa.Column("detected", sa.Boolean(), nullable=False, server_default=false))
        batch.add_column(
            sa.Column("awaiting_confirmation", sa.Boolean(), nullable=False, server_default=false)
        )
        batch.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(_at("plan_at", nullable=True))
        batch.create_index("ix_incidents_plan_at", ["plan_at"], unique=False)
    with op.batch_alter_table("incident_updates") as batch:
        batch.add_column(
            sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                      server_default="update")
        )  # fmt: skip
        batch.add_column(sa.Column("step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("messages", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(_at("estimate_at", nullable=True))
        batch.add_column(
            sa.Column("by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False,
                      server_default="")
        )  # fmt: skip
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "incident_customers",
        sa.Column("incident_id", big_id, nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        _at("joined_at", nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("incident_id", "customer_id"),
    )
    op.create_index(
        "ix_incident_customers_planned", "incident_customers", ["incident_id", "planned"]
    )


def downgrade() -> None:
    op.drop_index("ix_incident_customers_planned", table_name="incident_customers")
    op.drop_table("incident_customers")
    with op.batch_alter_table("incident_updates") as batch:
        for name in ("by", "estimate_at", "messages", "step", "kind"):
            batch.drop_column(name)
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_plan_at")
        for name in (
            "plan_at",
            "step",
            "awaiting_confirmation",
            "detected",
            "paused_at",
            "updates_on",
            "through_quiet_hours",
            "opened_by",
            "severity",
            "titles",
        ):
            batch.drop_column(name)  # fmt: skip
