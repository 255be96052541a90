"""crisis detection: each crisis rule's state per group, and what it found per incident

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 13:30:00.000000

``crisis_detections`` holds, per crisis rule and group, since when its condition holds
(or has been false), whether it may fire again and the incident it last fired;
``incident_detections`` the numbers and examples a rule found for an incident, once per
rule, group and episode. Two indexes let the counts read only a window's promises and
breaks: ``promises.due_at``, and the breaks among ``promise_events``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from notifier.store.types import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BREAKS = "type IN ('broken', 'rescheduled')"


def _at(name: str, *, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "crisis_detections",
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("group_key", sa.String(length=1000), nullable=False),
        sa.Column("group_values", sa.JSON(), nullable=False),
        _at("holding_since", nullable=True),
        _at("false_since", nullable=True),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("incident_id", big_id, nullable=True),
        sa.Column("numbers", sa.JSON(), nullable=False),
        _at("updated_at", nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("rule_id", "group_key"),
    )
    op.create_table(
        "incident_detections",
        sa.Column("id", big_id, primary_key=True),
        sa.Column("incident_id", big_id, nullable=False),
        sa.Column("rule_id", text(length=100), nullable=False),
        sa.Column("group_key", text(length=1000), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("kind", text(length=16), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        _at("at", nullable=False),
        _at("no_longer_holds_since", nullable=True),
        sa.Column("told_ops", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.UniqueConstraint(
            "rule_id", "group_key", "episode", name="uq_incident_detections_episode"
        ),
    )
    op.create_index("ix_incident_detections_incident_id", "incident_detections", ["incident_id"])
    op.create_index("ix_promises_due_at", "promises", ["due_at"])
    op.create_index(
        "ix_promise_events_breaks", "promise_events", ["at"],
        sqlite_where=sa.text(_BREAKS), postgresql_where=sa.text(_BREAKS),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_promise_events_breaks", table_name="promise_events")
    op.drop_index("ix_promises_due_at", table_name="promises")
    op.drop_index("ix_incident_detections_incident_id", table_name="incident_detections")
    op.drop_table("incident_detections")
    op.drop_table("crisis_detections")
