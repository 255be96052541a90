"""The store every shell part is handed: one object, queries grouped by concern."""

from __future__ import annotations

from notifier.store.claims import ClaimQueries
from notifier.store.cluster import ClusterQueries
from notifier.store.connect import make_engine
from notifier.store.customers import CustomerQueries
from notifier.store.deliveries import DeliveryQueries
from notifier.store.detection_counts import DetectionCountQueries
from notifier.store.detections import DetectionQueries
from notifier.store.due import DueQueries
from notifier.store.earliest import EarliestQueries
from notifier.store.event_relay import EventRelayQueries
from notifier.store.event_writes import enable_events
from notifier.store.incident_counts import IncidentCountQueries
from notifier.store.incident_plans import IncidentPlanQueries
from notifier.store.incident_replies import IncidentReplyQueries
from notifier.store.incidents import IncidentQueries
from notifier.store.listing import ListingQueries
from notifier.store.maintenance_incidents import MaintenanceQueries
from notifier.store.outbox import ScanQueries
from notifier.store.promises import PromiseQueries
from notifier.store.rate_buckets import RateBucketQueries
from notifier.store.receipts import ReceiptQueries
from notifier.store.reports import ReportQueries
from notifier.store.retention import RetentionQueries
from notifier.store.timeline import TimelineQueries


class Store(
    CustomerQueries,
    PromiseQueries,
    TimelineQueries,
    DueQueries,
    ScanQueries,
    ClaimQueries,
    ReportQueries,
    DeliveryQueries,
    ListingQueries,
    ReceiptQueries,
    ClusterQueries,
    RateBucketQueries,
    RetentionQueries,
    EventRelayQueries,
    EarliestQueries,
    IncidentQueries,
    IncidentPlanQueries,
    MaintenanceQueries,
    IncidentReplyQueries,
    IncidentCountQueries,
    DetectionCountQueries,
    DetectionQueries,
):
    """The ledger and the outbox over one async engine (SQLite or PostgreSQL)."""

    @classmethod
    def open(cls, url: str, *, events: bool = False) -> Store:
        """Return a store on a new engine for ``url``.

        With ``events`` (NOTIFIER_EVENTS_URL set), every status change it writes writes its
        outbound event in the same transaction (``store/event_writes.py``).
        """
        engine = make_engine(url)
        if events:
            enable_events(engine)
        return cls(engine)
