"""The inbound service on a fake store: receipts, undo on error, keywords, HELP, ops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from notifier.config import Settings
from notifier.domain.crisis_replies import CrisisReply, LastMessage
from notifier.domain.ingest import InteractionData, RowError
from notifier.domain.models import (
    ChannelName,
    Customer,
    CustomerId,
    IncidentStatus,
    NotificationId,
)
from notifier.domain.outbox import Scheduled
from notifier.domain.outcomes import DeliveryOutcome, Outcome
from notifier.engine.ingest.inbound import Inbound, InboundText, twiml_reply
from tests.conftest import FakeClock

ANA = Customer(CustomerId("c-1"), "pt-BR", "America/Sao_Paulo", phone="+5491155550101")


@dataclass
class FakeStore:
    """Receipts, consents and the outbox in memory; ``failing`` makes a method raise."""

    customers: list[Customer] = field(default_factory=list)
    receipts: set[str] = field(default_factory=set)
    consents: list[tuple[str, ChannelName, bool]] = field(default_factory=list)
    queued: list[Scheduled] = field(default_factory=list)
    reports: list[Outcome] = field(default_factory=list)
    outcome: DeliveryOutcome = field(default_factory=DeliveryOutcome)
    failing: set[str] = field(default_factory=set)
    last: list[LastMessage] = field(default_factory=list)  # each customer's newest message
    replies: list[CrisisReply] = field(default_factory=list)

    def _maybe_fail(self, name: str) -> None:
        if name in self.failing:
            raise RuntimeError(f"{name} failed")

    async def first_receipt(self, key: str, now: datetime) -> bool:
        first = key not in self.receipts
        self.receipts.add(key)
        return first

    async def drop_receipt(self, key: str) -> None:
        self._maybe_fail("drop_receipt")
        self.receipts.discard(key)

    async def set_consent(
        self, customer_id: str, channel: ChannelName, allowed: bool, now: datetime
    ) -> bool:
        self._maybe_fail("set_consent")
        self.consents.append((customer_id, channel, allowed))
        return True

    async def record_delivery(self, report: Outcome, now: datetime) -> DeliveryOutcome:
        self._maybe_fail("record_delivery")
        self.reports.append(report)
        return self.outcome

    async def customers_by_number(self, channel: ChannelName, number: str) -> list[Customer]:
        return [c for c in self.customers if c.phone == number]

    async def enqueue(self, scheduled: Sequence[Scheduled], now: datetime) -> int:
        self.queued.extend(scheduled)
        return len(scheduled)

    async def last_messages(self, customer_ids: Sequence[str]) -> list[LastMessage]:
        return [m for m in self.last if m.customer_id in customer_ids]

    async def record_replies(self, replies: Sequence[CrisisReply]) -> int:
        self.replies.extend(replies)
        return len(replies)


@dataclass
class FakeLedger:
    added: list[InteractionData] = field(default_factory=list)

    async def add_interactions(self, items: Sequence[InteractionData]) -> list[int | RowError]:
        self.added.extend(items)
        return list(range(len(items)))


@dataclass
class Rig:
    store: FakeStore
    ledger: FakeLedger
    wakes: list[int]
    inbound: Inbound


@pytest.fixture
def rig() -> Rig:
    store, ledger, wakes = FakeStore([ANA]), FakeLedger(), []
    inbound = Inbound(store, ledger, FakeClock(), Settings().messages, lambda: wakes.append(1))
    return Rig(store, ledger, wakes, inbound)


def sms(body: str, sid: str = "SM1") -> InboundText:
    return InboundText.from_sender("+5491155550101", body, sid)


def test_a_whatsapp_sender_is_read_as_its_channel_and_number() -> None:
    text = InboundText.from_sender("whatsapp:+5491155550101", "hola", "SM1")
    assert (text.channel, text.number) == ("whatsapp", "+5491155550101")
    assert sms("hola").channel == "sms"


async def test_stop_records_the_interaction_and_opts_out_once(rig: Rig) -> None:
    assert await rig.inbound.text(sms("STOP")) is None
    assert await rig.inbound.text(sms("STOP")) is None  # the replay changes nothing
    assert rig.store.consents == [("c-1", "sms", False)]
    assert [(i.customer_id, i.channel, i.body) for i in rig.ledger.added] == [
        ("c-1", "sms", "STOP")
    ]


async def test_a_text_without_an_id_is_acted_on_every_time(rig: Rig) -> None:
    await rig.inbound.text(sms("START", sid=""))
    await rig.inbound.text(sms("START", sid=""))
    assert rig.store.consents == [("c-1", "sms", True)] * 2
    assert rig.store.receipts == set()


async def test_help_answers_in_the_customers_locale_else_the_default(rig: Rig) -> None:
    assert (await rig.inbound.text(sms("ajuda", sid="SM1")) or "").startswith("Acme: mensagens")
    stranger = InboundText.from_sender("+5491100000000", "HELP", "SM2")
    assert (await rig.inbound.text(stranger) or "").startswith("Acme: mensajes")


async def test_other_text_goes_to_ops_and_wakes_the_dispatcher(rig: Rig) -> None:
    assert await rig.inbound.text(sms("¿cuándo llega?")) is None
    assert len(rig.store.queued) == 1 and rig.wakes == [1]


async def test_a_reply_to_a_crisis_message_is_recorded_for_the_digest(rig: Rig) -> None:
    rig.store.last = [LastMessage(ANA.id, 7, IncidentStatus.IDENTIFIED, None)]
    assert await rig.inbound.text(sms("¿cuándo llega?")) is None
    assert rig.store.queued == [] and rig.wakes == []
    [reply] = rig.store.replies
    assert (reply.incident_id, reply.customer_id, reply.channel) == (7, "c-1", "sms")
    assert reply.text == "¿cuándo llega?" and reply.sender == "+54911****0101"
    assert reply.source == "twilio-inbound:SM1"
    assert len(rig.ledger.added) == 1  # still the customer's interaction


async def test_a_shared_number_splits_between_the_digest_and_a_forward(rig: Rig) -> None:
    other = Customer(CustomerId("c-2"), "es", "America/Argentina/Buenos_Aires",
                     phone=ANA.phone)  # fmt: skip
    rig.store.customers.append(other)
    rig.store.last = [LastMessage(ANA.id, 7, IncidentStatus.INVESTIGATING, None),
                      LastMessage(other.id, None, None, None)]  # fmt: skip
    await rig.inbound.text(sms("hola"))
    assert [r.customer_id for r in rig.store.replies] == ["c-1"]
    [forward] = rig.store.queued
    assert forward.notice.data["customers"] == [{"id": "c-2", "name": None}]


async def test_a_failure_drops_the_receipt_so_the_retry_is_acted_on(rig: Rig) -> None:
    rig.store.failing.add("set_consent")
    with pytest.raises(RuntimeError):
        await rig.inbound.text(sms("STOP"))
    assert rig.store.receipts == set()
    rig.store.failing.clear()
    await rig.inbound.text(sms("STOP"))
    assert rig.store.consents == [("c-1", "sms", False)]


async def test_a_store_that_cannot_drop_the_receipt_raises_the_first_error(rig: Rig) -> None:
    rig.store.failing |= {"record_delivery", "drop_receipt"}
    with pytest.raises(RuntimeError, match="record_delivery failed"):
        await rig.inbound.delivery_report("SM9", "delivered", None)


async def test_a_delivery_report_is_recorded_once_and_wakes_when_moved_on(rig: Rig) -> None:
    rig.store.outcome = DeliveryOutcome(found=(NotificationId(7),), moved_on=(NotificationId(7),))
    await rig.inbound.delivery_report("SM9", "undelivered", "30003")
    await rig.inbound.delivery_report("SM9", "undelivered", "30003")
    assert [r.provider_id for r in rig.store.reports] == ["SM9"]
    assert rig.wakes == [1]


async def test_an_unknown_delivery_report_wakes_nobody(rig: Rig) -> None:
    await rig.inbound.delivery_report("SM404", "delivered", None)
    assert len(rig.store.reports) == 1 and rig.wakes == []


def test_the_twiml_reply_holds_one_message_or_none() -> None:
    assert "<Message>hola</Message>" in twiml_reply("hola")
    assert "<Message" not in twiml_reply(None)
