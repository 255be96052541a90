"""Everything a request may need from the process it runs in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from notifier.channels.registry import Channels
from notifier.clock import Clock
from notifier.config import Settings
from notifier.engine.ingest.ledger_service import Ledger
from notifier.engine.reporting.service import Reporting
from notifier.engine.wiring.monitor import Health
from notifier.store.store import Store


@dataclass
class Services:
    """Everything a request may need; ``notifier run`` fills in the daemon's parts."""

    settings: Settings
    store: Store
    clock: Clock
    ledger: Ledger
    ready: bool = True
    problems: list[str] = field(default_factory=list)
    # The channels of this process (webhooks forward replies to ops through email).
    channels: Channels | None = None
    # Wakes the dispatcher when a request put rows in the outbox or freed held ones.
    wake_dispatcher: Callable[[], None] = lambda: None
    # Moves the test clock (NOTIFIER_TEST_MODE only).
    advance_clock: Callable[[timedelta], None] | None = None
    # The daemon's failure streaks; None without a daemon (the API alone, in tests).
    health: Health | None = None
    # Status, notifications, pause and resume, over the same store and clock.
    reporting: Reporting = field(init=False)

    def __post_init__(self) -> None:
        self.reporting = Reporting(self.store, self.clock)
