"""The tables. Rows stay inside ``store/``; callers get domain values (see convert.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from notifier.store.types import UTCDateTime

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _at(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        sa_column=Column(
            BigId if target != "customers.id" else String(128),
            ForeignKey(target, ondelete="CASCADE"),
            nullable=nullable,
            index=index,
        )
    )


class CustomerRow(SQLModel, table=True):
    __tablename__ = "customers"
    # Inbound email finds its customer by address, compared case-insensitively.
    __table_args__ = (Index("ix_customers_email_lower", text("lower(email)")),)

    id: str = Field(sa_column=Column(String(128), primary_key=True))
    name: str | None = Field(default=None, max_length=200)
    locale: str = Field(max_length=35)
    timezone: str = Field(max_length=64)
    # ISO 3166-1 alpha-2 as given; NULL: read off the phone number (Customer.home_country).
    country: str | None = Field(default=None, max_length=2)
    # Inbound SMS and WhatsApp find their customer by number.
    phone: str | None = Field(default=None, max_length=32, index=True)
    email: str | None = Field(default=None, max_length=320)
    whatsapp: str | None = Field(default=None, max_length=32, index=True)
    x_user_id: str | None = Field(default=None, max_length=64)
    preferred_channel: str | None = Field(default=None, max_length=16)
    opted_out: list[str] = _json(list)
    undeliverable: dict[str, str] = _json(dict)
    last_used_channel: str | None = Field(default=None, max_length=16)
    last_inbound_at: datetime | None = _at(nullable=True)
    last_whatsapp_inbound_at: datetime | None = _at(nullable=True)
    forgotten_at: datetime | None = _at(nullable=True)
    created_at: datetime = _at()
    updated_at: datetime = _at()


class InteractionRow(SQLModel, table=True):
    __tablename__ = "interactions"
    # The same touchpoint reported twice (a re-import, a retried webhook) is recorded once.
    __table_args__ = (
        UniqueConstraint("customer_id", "at", "channel", "direction", name="uq_interactions_touch"),
        # Touchpoints whose text the retention purge has yet to erase, oldest first.
        Index(
            "ix_interactions_with_body",
            "at",
            sqlite_where=text("body IS NOT NULL"),
            postgresql_where=text("body IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    customer_id: str = _fk("customers.id", index=False)
    channel: str = Field(max_length=16)
    direction: str = Field(max_length=16)
    at: datetime = _at()
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _at()


class PromiseRow(SQLModel, table=True):
    __tablename__ = "promises"
    __table_args__ = (
        # Every promise with a check pending, whatever its status: the scan reads only this.
        Index(
            "ix_promises_next_check_at",
            "next_check_at",
            sqlite_where=text("next_check_at IS NOT NULL"),
            postgresql_where=text("next_check_at IS NOT NULL"),
        ),
        Index("ix_promises_customer_status", "customer_id", "status"),
        # Settled promises with no check pending: the retention purge's candidates, oldest first.
        Index(
            "ix_promises_settled",
            "status_changed_at",
            sqlite_where=text("next_check_at IS NULL AND status IN ('kept', 'cancelled')"),
            postgresql_where=text("next_check_at IS NULL AND status IN ('kept', 'cancelled')"),
        ),
        # The few promises the scan cannot plan, for `notifier status`.
        Index(
            "ix_promises_plan_errors",
            "plan_errors",
            sqlite_where=text("plan_errors > 0"),
            postgresql_where=text("plan_errors > 0"),
        ),
        # Crisis detection counts the promises due in a window (store/detections.py).
        Index("ix_promises_due_at", "due_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    customer_id: str = _fk("customers.id", index=False)
    kind: str = Field(max_length=64)
    status: str = Field(max_length=16)
    due_at: datetime = _at()
    window_start: datetime | None = _at(nullable=True)
    estimate_at: datetime | None = _at(nullable=True)
    attributes: dict[str, Any] = _json(dict)
    external_ref: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    deadline_version: int = 1
    times_broken: int = 0
    next_check_at: datetime | None = _at(nullable=True)
    status_changed_at: datetime = _at()
    created_at: datetime = _at()
    updated_at: datetime = _at()
    # Consecutive scans that could not plan it, and the last one's rule, reason and since
    # (JSON); 0 and NULL once planned or edited.
    plan_errors: int = Field(
        default=0,
        sa_column=Column(Integer, nullable=False, default=0, server_default=text("0")),
    )
    plan_error: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )


class PromiseEventRow(SQLModel, table=True):
    __tablename__ = "promise_events"
    # The retention purge takes the oldest first.
    __table_args__ = (
        Index("ix_promise_events_at", "at"),
        # Crisis detection counts the breaks of a window and of the week before it.
        Index(
            "ix_promise_events_breaks",
            "at",
            sqlite_where=text("type IN ('broken', 'rescheduled')"),
            postgresql_where=text("type IN ('broken', 'rescheduled')"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    promise_id: int = _fk("promises.id")
    type: str = Field(max_length=16)
    at: datetime = _at()
    source: str = Field(max_length=16)
    deadline_version: int
    data: dict[str, Any] = _json(dict)


class IncidentRow(SQLModel, table=True):
    """A crisis (domain/incidents.py): its segment, texts, state and fan-out bookkeeping."""

    __tablename__ = "incidents"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    # What opened it, when that may happen once only (``maintenance:<id>``); NULL: a person.
    source: str | None = Field(default=None, max_length=128, unique=True, index=True)
    title: str = Field(max_length=200)  # the default locale's, for lists
    titles: dict[str, str] = _json(dict)  # locale: title
    status: str = Field(max_length=16)
    severity: str = Field(default="major", max_length=16)
    selector: dict[str, Any] = _json(dict)  # the segment, as given
    opened_by: str = Field(default="", max_length=128)
    through_quiet_hours: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    updates_on: list[str] = _json(list)  # channels that get every update
    paused_at: datetime | None = _at(nullable=True)
    detected: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    awaiting_confirmation: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    step: int = 0  # the newest published customer-facing step
    # When the planner looks at it next (its fan-out, newly affected customers); NULL: never.
    plan_at: datetime | None = _at(nullable=True, index=True)
    created_at: datetime = _at()
    updated_at: datetime = _at()
    resolved_at: datetime | None = _at(nullable=True)


class IncidentUpdateRow(SQLModel, table=True):
    """One line of an incident's history; a customer-facing step has its ``step`` number."""

    __tablename__ = "incident_updates"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    incident_id: int = _fk("incidents.id")
    kind: str = Field(default="update", max_length=16)  # opened, update, resolved, paused ...
    step: int | None = None
    status: str = Field(max_length=16)
    body: str = Field(sa_column=Column(Text, nullable=False))  # the default locale's text
    messages: dict[str, str] = _json(dict)  # locale: text
    estimate_at: datetime | None = _at(nullable=True)  # the estimate in force after it
    by: str = Field(default="", max_length=128)
    at: datetime = _at()


class IncidentCustomerRow(SQLModel, table=True):
    """A customer an incident touches, and the newest step planned for them."""

    __tablename__ = "incident_customers"
    __table_args__ = (Index("ix_incident_customers_planned", "incident_id", "planned"),)

    incident_id: int = Field(
        sa_column=Column(BigId, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    )
    customer_id: str = Field(
        sa_column=Column(
            String(128), ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
        )
    )
    joined_at: datetime = _at()
    planned: int = -1  # the newest step with a row for them; -1 none yet


class IncidentReplyRow(SQLModel, table=True):
    """A customer's reply to an incident's message, and the digest that took it to ops."""

    __tablename__ = "incident_replies"
    __table_args__ = (
        # One webhook request is one reply per customer, however often it is replayed.
        UniqueConstraint("source", "customer_id", name="uq_incident_replies_source"),
        # The newest digest of an incident (its next number) and the replies it took.
        Index("ix_incident_replies_digest", "incident_id", "digest"),
        # The replies no digest took yet: what the digest job reads.
        Index(
            "ix_incident_replies_pending",
            "incident_id",
            "id",
            sqlite_where=text("digest IS NULL"),
            postgresql_where=text("digest IS NULL"),
        ),
        # Replies whose text the retention purge has yet to erase, oldest first.
        Index(
            "ix_incident_replies_with_body",
            "at",
            sqlite_where=text("body IS NOT NULL"),
            postgresql_where=text("body IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    incident_id: int = _fk("incidents.id", index=False)
    customer_id: str = _fk("customers.id")
    channel: str = Field(max_length=16)
    sender: str = Field(max_length=32)  # the number, masked as the digest shows it
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    source: str = Field(max_length=200)  # the webhook request (twilio-inbound:<MessageSid>)
    at: datetime = _at()
    digest: int | None = None  # the digest that listed or counted it; NULL: none yet


class NotificationRow(SQLModel, table=True):
    """The outbox: one message to one customer or to ops, on the channel routing picks.

    ``customer_id`` is NULL for a message to ops about no one customer (a channel down,
    a forwarded reply); an escalation to ops names its customer.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status_not_before", "status", "not_before"),
        Index("ix_notifications_customer_created", "customer_id", "created_at"),
        # The rows the retention purge has yet to empty, oldest change first.
        Index(
            "ix_notifications_unpurged",
            "updated_at",
            sqlite_where=text("purged_at IS NULL"),
            postgresql_where=text("purged_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    dedupe_key: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    customer_id: str | None = _fk("customers.id", nullable=True, index=False)
    promise_id: int | None = _fk("promises.id", nullable=True)
    incident_id: int | None = _fk("incidents.id", nullable=True)
    rule_id: str | None = Field(default=None, max_length=128)
    message: str = Field(max_length=64)
    stage: str = Field(default="", max_length=32)
    step: int = 0
    priority: str = Field(default="normal", max_length=16)
    channel_choice: str = Field(default="last_used", max_length=16)
    fallback: list[str] = _json(list)
    failed_channels: list[str] = _json(list)
    channel: str | None = Field(default=None, max_length=16)
    address: str | None = Field(default=None, max_length=320)
    status: str = Field(max_length=16)
    not_before: datetime = _at()
    attempts: int = 0
    lease_until: datetime | None = _at(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=64)
    # Status callbacks find their notification by the provider's id.
    provider_id: str | None = Field(default=None, max_length=128, index=True)
    error_code: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    subject: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    payload: dict[str, Any] = _json(dict)
    created_at: datetime = _at()
    updated_at: datetime = _at()
    attempted_at: datetime | None = _at(nullable=True)  # when the current attempt began
    sent_at: datetime | None = _at(nullable=True)
    delivered_at: datetime | None = _at(nullable=True)
    # Past NOTIFIER_RETENTION: body, address and history gone, the row kept as the dedupe
    # key's tombstone while its promise can fire (store/retention.py).
    purged_at: datetime | None = _at(nullable=True)


class NotificationEventRow(SQLModel, table=True):
    """One step of a notification's history: a decision, an attempt, an answer."""

    __tablename__ = "notification_events"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    notification_id: int = _fk("notifications.id")
    at: datetime = _at()
    type: str = Field(max_length=32)
    channel: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    detail: dict[str, Any] = _json(dict)


class PurgedPromiseRow(SQLModel, table=True):
    """A promise deleted under NOTIFIER_RETENTION: its ref may not be posted again."""

    __tablename__ = "purged_promises"

    external_ref: str = Field(sa_column=Column(String(200), primary_key=True))
    purged_at: datetime = _at()


class PauseRow(SQLModel, table=True):
    """A kill switch (ops pause a channel or a rule) or a channel found down."""

    __tablename__ = "pauses"
    __table_args__ = (UniqueConstraint("kind", "target", name="uq_pauses_kind_target"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    kind: str = Field(max_length=16)  # channel | rule | down
    target: str = Field(max_length=128)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _at()
    until: datetime | None = _at(nullable=True)  # a down channel is probed again then


class StateRow(SQLModel, table=True):
    """Small facts the daemon publishes for ``notifier status`` (last scan, rules reload)."""

    __tablename__ = "daemon_state"

    key: str = Field(sa_column=Column(String(64), primary_key=True))
    value: dict[str, Any] = _json(dict)
    updated_at: datetime = _at()


class WebhookReceiptRow(SQLModel, table=True):
    """A provider webhook already acted on: a replay of the same key changes nothing."""

    __tablename__ = "webhook_receipts"

    # "twilio-inbound:<MessageSid>" or "twilio-status:<MessageSid>:<MessageStatus>".
    key: str = Field(sa_column=Column(String(200), primary_key=True))
    received_at: datetime = _at()


class LinkRevocationRow(SQLModel, table=True):
    """Unsubscribe links issued to a customer up to ``revoked_at`` no longer work."""

    __tablename__ = "link_revocations"

    customer_id: str = Field(
        sa_column=Column(
            String(128), ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
        )
    )
    revoked_at: datetime = _at()


class RateBucketRow(SQLModel, table=True):
    """A sender's rate for the whole cluster (see domain/pacing.py): one row per sender.

    Instants are seconds since the epoch, as the database's clock counts them.
    """

    __tablename__ = "rate_buckets"

    channel: str = Field(sa_column=Column(String(16), primary_key=True))
    sender: str = Field(sa_column=Column(String(128), primary_key=True))
    tat: float = Field(sa_column=Column(Double, nullable=False))  # next grant's earliest slot
    blocked_until: float = Field(sa_column=Column(Double, nullable=False))  # a Retry-After
    day: int = Field(sa_column=Column(Integer, nullable=False))  # UTC day, days since epoch
    day_count: int = Field(sa_column=Column(Integer, nullable=False))  # messages that day


class EventOutboxRow(SQLModel, table=True):
    """An outbound event for the CRM (docs/operations.md, "Outbound events"): its own outbox.

    Written in the transaction of the change it reports; the relay posts a stream's events
    in ``sequence`` order. No foreign key: the body is whole by itself, so retention may
    delete the history and the rows it reports without touching the events.
    """

    __tablename__ = "event_outbox"
    __table_args__ = (
        UniqueConstraint("stream", "sequence", name="uq_event_outbox_stream_sequence"),
        # The relay reads only the undelivered, unparked events: due ones in order, and
        # each one's stream for an earlier one.
        Index(
            "ix_event_outbox_pending",
            "stream",
            "sequence",
            sqlite_where=text("delivered_at IS NULL AND parked_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL AND parked_at IS NULL"),
        ),
        Index(
            "ix_event_outbox_due",
            "not_before",
            "id",
            sqlite_where=text("delivered_at IS NULL AND parked_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL AND parked_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    key: str = Field(sa_column=Column(String(64), nullable=False, unique=True))  # body's "id"
    stream: str = Field(max_length=160)  # "promise:<id>" or "customer:<id>": ordered within
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    type: str = Field(max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))  # the JSON posted, as signed
    created_at: datetime = _at()
    not_before: datetime = _at()  # a retry waits until then
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _at(nullable=True)
    last_error: str | None = Field(default=None, max_length=300)
    delivered_at: datetime | None = _at(nullable=True)
    parked_at: datetime | None = _at(nullable=True)  # the receiver refused it (see last_error)


class EventSequenceRow(SQLModel, table=True):
    """Each stream's last event sequence: it outlives the delivered events it numbered."""

    __tablename__ = "event_sequences"

    stream: str = Field(sa_column=Column(String(160), primary_key=True))
    last: int = Field(sa_column=Column(BigInteger, nullable=False))


class CrisisDetectionRow(SQLModel, table=True):
    """A crisis rule's state for one group (domain/detection.py): since when its condition
    holds or has been false, whether it may fire again, and the incident it last fired."""

    __tablename__ = "crisis_detections"

    rule_id: str = Field(sa_column=Column(String(100), primary_key=True))
    group_key: str = Field(sa_column=Column(String(1000), primary_key=True))
    group_values: list[str] = _json(list)
    holding_since: datetime | None = _at(nullable=True)
    false_since: datetime | None = _at(nullable=True)
    armed: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    episode: int = 0  # how many times it fired (or attached)
    incident_id: int | None = Field(
        default=None,
        sa_column=Column(BigId, ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True),
    )
    numbers: dict[str, Any] = _json(dict)  # the latest, while it holds
    updated_at: datetime = _at()


class IncidentDetectionRow(SQLModel, table=True):
    """What a crisis rule found for an incident: the one it proposed, or one it attached to."""

    __tablename__ = "incident_detections"
    __table_args__ = (
        UniqueConstraint("rule_id", "group_key", "episode", name="uq_incident_detections_episode"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    incident_id: int = _fk("incidents.id")
    rule_id: str = Field(max_length=100)
    group_key: str = Field(max_length=1000)
    episode: int
    kind: str = Field(max_length=16)  # proposed, attached
    segment: dict[str, Any] = _json(dict)
    numbers: dict[str, Any] = _json(dict)
    examples: list[Any] = _json(list)  # up to 10 {id, ref}
    at: datetime = _at()
    no_longer_holds_since: datetime | None = _at(nullable=True)
    told_ops: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))


metadata = SQLModel.metadata
