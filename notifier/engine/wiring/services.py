"""Everything a request may need from the process it runs in, as engine services.

Routes reach the store and the channels only through these services (an import-linter
contract keeps ``notifier.api`` off ``notifier.store`` and ``notifier.channels``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from notifier.clock import Clock
from notifier.config import Settings
from notifier.engine.crisis.commands import Incidents
from notifier.engine.ingest.consent import Consent
from notifier.engine.ingest.inbound import Inbound
from notifier.engine.ingest.inbound_email import InboundEmails
from notifier.engine.ingest.ledger_service import Ledger
from notifier.engine.monitor import Health
from notifier.engine.reporting.service import Reporting
from notifier.engine.wiring.readiness import Readiness, check_readiness
from notifier.store.store import Store
from notifier.templates import Renderer


@dataclass
class Services:
    """Everything a request may need; ``notifier run`` fills in the daemon's parts."""

    settings: Settings
    # Only ``api/notifications.py`` still reads it; every other route goes through a service.
    store: Store
    clock: Clock
    ledger: Ledger
    ready: bool = True
    problems: list[str] = field(default_factory=list)
    # Wakes the dispatcher when a request put rows in the outbox or freed held ones.
    wake_dispatcher: Callable[[], None] = lambda: None
    # Moves the test clock (NOTIFIER_TEST_MODE only).
    advance_clock: Callable[[timedelta], None] | None = None
    # The daemon's failure streaks; None without a daemon (the API alone, in tests).
    health: Health | None = None
    # The templates in force: an incident's texts are measured with them (their SMS
    # segments). None: not measured. The daemon hands over each reloaded set.
    renderer: Renderer | None = None
    # Status, notifications, pause and resume.
    reporting: Reporting = field(init=False)

    def __post_init__(self) -> None:
        self.reporting = Reporting(self.store, self.clock)

    @property
    def inbound(self) -> Inbound:
        """Delivery reports and inbound texts, on the settings as they are for this request."""
        # Late-bound: whoever sets wake_dispatcher afterwards is still the one woken.
        wake = lambda: self.wake_dispatcher()  # noqa: E731
        return Inbound(self.store, self.ledger, self.clock, self.settings.messages, wake)

    @property
    def inbound_email(self) -> InboundEmails:
        """Customers' email replies; the dispatcher woken late-bound, as for ``inbound``."""
        wake = lambda: self.wake_dispatcher()  # noqa: E731
        return InboundEmails(self.store, self.ledger, self.clock, wake)

    @property
    def incidents(self) -> Incidents:
        """The incident commands the CLI runs; a change wakes this process's scan and sends."""
        s = self.settings
        return Incidents(self.store, self.clock, self.renderer, s.default_locale,
                         s.max_sms_segments, on_change=self._incident_changed)  # fmt: skip

    def _incident_changed(self) -> None:
        # Late-bound, as for inbound: the daemon sets both hooks after building the services.
        self.ledger.on_change()  # the scan plans the incident's fan-out
        self.wake_dispatcher()  # a resume or a confirmation freed held rows

    @property
    def consent(self) -> Consent:
        """Unsubscribe links, on the settings as they are for this request."""
        return Consent(self.store, self.clock, self.settings.links)

    async def readiness(self) -> Readiness:
        """Probe the store this process was built with, and say whether it is ready."""
        if self.health is None:  # the API without a daemon: only the database can be wrong
            self.health = Health.from_settings(self.settings.scan)
        return await check_readiness(
            self.health, self.store, daemon_ready=self.ready, problems=self.problems
        )
