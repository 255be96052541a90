"""The delivery ports are real seams: pauses and recovery run on a fake that has only their calls.

Each fake implements one protocol of ``engine/delivery/ports.py`` and nothing else, so a
call to any other store method fails the test with an AttributeError.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from notifier.channels.registry import Channels
from notifier.config import Settings
from notifier.domain.models import (
    ChannelName,
    CustomerId,
    NotificationId,
    NotificationStatus,
    PromiseId,
)
from notifier.domain.outbox import Change, Notification, Scheduled
from notifier.domain.reports import Pause
from notifier.engine.delivery.pauses import REFRESH, Pauses
from notifier.engine.delivery.ports import PauseStore, RecoveryStore
from notifier.engine.delivery.recovery import recover

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


class MemoryPauses:
    """A PauseStore: the pauses table as a list, down pauses lapsing at their time."""

    def __init__(self, rows: list[Pause]) -> None:
        self.rows = rows
        self.reads = 0

    async def pauses(self, now: datetime) -> list[Pause]:
        self.reads += 1
        return [r for r in self.rows if r.until is None or r.until > now]

    async def pause(
        self, kind: str, target: str, reason: str, now: datetime, until: datetime | None = None
    ) -> None:
        self.rows.append(Pause(len(self.rows) + 1, kind, target, reason, now, until))


class MemoryLeases:
    """A RecoveryStore: expired rows, of which another process adopts some first."""

    def __init__(self, expired: list[Notification], taken_elsewhere: set[int]) -> None:
        self.expired = expired
        self.taken_elsewhere = taken_elsewhere
        self.adopted: list[tuple[list[int], str, timedelta]] = []
        self.written: list[Change] = []

    async def expired_leases(
        self, now: datetime, owner: str, limit: int, held: Collection[int] | None = None
    ) -> list[Notification]:
        return [n for n in self.expired if held is None or n.id not in held][:limit]

    async def adopt(
        self, ids: Sequence[int], now: datetime, owner: str, lease: timedelta
    ) -> list[int]:
        self.adopted.append((list(ids), owner, lease))
        return [i for i in ids if i not in self.taken_elsewhere]

    async def apply_changes(self, changes: Sequence[Change], now: datetime) -> None:
        self.written.extend(changes)

    async def lookup_failures(self, ids: Sequence[int]) -> dict[int, int]:
        return {}

    async def enqueue(self, scheduled: Sequence[Scheduled], now: datetime) -> int:
        return len(scheduled)


def _sending(nid: int, channel: ChannelName) -> Notification:
    return Notification(
        id=NotificationId(nid), dedupe_key=f"r:{nid}:1:0", customer_id=CustomerId("c-1"),
        promise_id=PromiseId(nid), rule_id="r", message="delivery_late", stage="late", step=0,
        priority="normal", audience="customer", channel_choice="last_used", fallback=(),
        failed_channels=frozenset(), status=NotificationStatus.SENDING, not_before=NOW,
        attempts=1, deadline_version=1, quiet_hours=None, created_at=NOW, channel=channel,
        address="c-1@example.com", attempted_at=NOW - timedelta(minutes=10), body="hola",
    )  # fmt: skip


async def test_pauses_run_on_a_pause_store_alone() -> None:
    fake = MemoryPauses(
        [Pause(1, "channel", "sms", "ops", NOW, None), Pause(2, "rule", "late-1", "ops", NOW, None)]
    )
    store: PauseStore = fake  # mypy checks the fake against the protocol
    settings = Settings()
    pauses = Pauses(store, FixedClock(NOW), settings)
    await pauses.refresh(NOW)
    assert pauses.channels == {"sms"} and pauses.rules == {"late-1"} and not pauses.down
    await pauses.refresh(NOW + REFRESH / 2)  # cached
    assert fake.reads == 1

    await pauses.mark_down("whatsapp", "401 from Twilio")
    assert pauses.down == {"whatsapp"}
    assert fake.rows[-1] == Pause(3, "down", "whatsapp", "401 from Twilio", NOW,
                                  NOW + settings.channel_probe)  # fmt: skip
    await pauses.refresh(NOW + settings.channel_probe, force=True)  # the probe time: it lapses
    assert not pauses.down and fake.reads == 2


async def test_recovery_runs_on_a_recovery_store_alone() -> None:
    email, x, elsewhere = _sending(1, "email"), _sending(2, "x"), _sending(3, "email")
    fake = MemoryLeases([email, x, elsewhere], taken_elsewhere={3})
    store: RecoveryStore = fake
    settings = Settings(resend_unknown=False)
    report = await recover(store, Channels(), settings, "me", NOW)
    assert fake.adopted == [([1, 2, 3], "me", settings.lease)]
    assert {c.id: c.status for c in fake.written} == {
        1: NotificationStatus.PENDING,  # email goes again, same Message-ID
        2: NotificationStatus.UNKNOWN,  # X has no lookup
    }  # row 3 is the other process's to resolve
    assert (report.resent, report.found, report.unknown) == (1, 0, 1)
    assert all(c.release for c in fake.written)


def test_the_fakes_have_only_their_protocols_calls() -> None:
    assert {m for m in vars(MemoryPauses) if not m.startswith("_")} == {"pauses", "pause"}
    wanted = {"expired_leases", "adopt", "apply_changes", "lookup_failures", "enqueue"}
    assert {m for m in vars(MemoryLeases) if not m.startswith("_")} == wanted
