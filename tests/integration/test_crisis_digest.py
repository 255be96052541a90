"""Customers' replies to crisis messages reach ops as one digest per incident, both databases.

Real parts throughout: the shipped rules and templates, the crisis fan-out sent through the
Twilio fake, replies posted to the signed inbound webhook over HTTP, the digest job's
store writes, and the emails received by the SMTP fake and parsed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select

from notifier.domain.incidents import Severity
from notifier.engine.crisis.commands import Incidents, Texts
from notifier.engine.crisis.planner import plan_incidents
from notifier.engine.crisis.replies import send_digests
from notifier.store.convert import incident_replies, notifications
from notifier.store.store import Store
from tests.integration.rig import Rig
from tests.integration.test_retention_daemon import jobs_of
from tests.integration.test_webhooks_inbound import INBOUND, sms, whatsapp
from tests.webhooks_fixtures import OPS, serve, signature, webhook_settings

PHONES = {f"c-{i}": f"+54911555502{i:02d}" for i in range(1, 6)}
MASKED = {cid: f"+54911****02{cid[2:].zfill(2)}" for cid in PHONES}


@dataclass
class Desk:
    """The rig (store, fan-out, dispatcher, SMTP and Twilio fakes) and the webhook app."""

    rig: Rig
    client: httpx.AsyncClient

    async def reply(self, cid: str, text: str, *, on_whatsapp: bool = False) -> None:
        params = (whatsapp if on_whatsapp else sms)(text, PHONES[cid])
        answer = await self.client.post(
            INBOUND, data=params, headers={"X-Twilio-Signature": signature(INBOUND, params)}
        )
        assert answer.status_code == 200, answer.text

    async def digest(self) -> int:
        """Run the digest job's work once, then send what it wrote; return digests written."""
        written = await send_digests(self.rig.store, self.rig.clock.now(), self.rig.settings.digest)
        await self.rig.dispatcher.dispatch_until_idle()
        return written

    def mails(self) -> list[EmailMessage]:
        return [m.parsed() for m in self.rig.smtp.received if m.rcpt_tos == [OPS]]


@pytest.fixture
async def desk(rig: Rig) -> AsyncIterator[Desk]:
    settings = webhook_settings(rig.smtp.port)
    client, _ = await serve(settings, rig.store, rig.clock, [])
    async with client:
        yield Desk(rig, client)


async def _round(rig: Rig) -> None:
    await rig.scan()
    await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
    await rig.dispatcher.dispatch_until_idle()


async def _crisis(desk: Desk, *affected: str) -> int:
    """Customers c-1..c-5, ``affected`` ones in a strike; open it, send the apologies."""
    rig = desk.rig
    for cid, phone in PHONES.items():
        await rig.customer(cid, phone=phone)
        carrier = "andreani" if cid in affected else "oca"
        await rig.promise(cid, f"A-{cid}", timedelta(hours=5), carrier=carrier)
    service = Incidents(rig.store, rig.clock, rig.dispatcher.composer.renderer, "es", 2)
    iid = await service.open(
        titles=Texts("Paro de transportistas", (), "--title"), messages=Texts(None),
        severity=Severity.MAJOR, match=["attributes.carrier=andreani"], estimate=None, by="ana",
    )  # fmt: skip
    await _round(rig)
    told = {f["To"] for f in rig.twilio.forms()}
    assert told == {PHONES[c] for c in affected}
    rig.smtp.reset()
    rig.clock.advance(timedelta(minutes=3))
    return iid


def _text(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def _replies(store: Store) -> list[tuple[str, int | None]]:
    r = incident_replies.c
    async with store.reading() as conn:
        rows = await conn.execute(select(r.customer_id, r.digest).order_by(r.id))
        return [(row[0], row[1]) for row in rows]


async def _digest_keys(store: Store) -> list[str]:
    n = notifications.c
    async with store.reading() as conn:
        keys = await conn.scalars(select(n.dedupe_key).where(n.message == "ops_crisis_replies"))
        return sorted(keys)


async def test_replies_to_the_apology_reach_ops_as_one_digest(desk: Desk) -> None:
    iid = await _crisis(desk, "c-1", "c-2", "c-3")
    await desk.reply("c-1", "¿Y ahora cuándo llega? Lo necesito para el viernes")
    desk.rig.clock.advance(timedelta(minutes=1))
    await desk.reply("c-2", "ok, gracias por avisar", on_whatsapp=True)
    desk.rig.clock.advance(timedelta(minutes=1))
    await desk.reply("c-3", "No puede ser, es la tercera vez\nque pasa esto")
    await desk.rig.dispatcher.dispatch_until_idle()
    assert desk.mails() == []  # nothing forwarded one by one

    assert await desk.digest() == 1
    [mail] = desk.mails()
    assert mail["Subject"] == f"Incident {iid}: 3 replies from customers (Paro de transportistas)"
    text = _text(mail)
    # Newest last, at Buenos Aires time (the test clock: 15:03 UTC is 12:03 there).
    lines = [line for line in text.splitlines() if line.startswith("2026-")]
    assert lines == [
        f"2026-11-24 12:03  c-1  sms {MASKED['c-1']}",
        f"2026-11-24 12:04  c-2  whatsapp {MASKED['c-2']}",
        f"2026-11-24 12:05  c-3  sms {MASKED['c-3']}",
    ]
    assert "  ¿Y ahora cuándo llega? Lo necesito para el viernes" in text
    assert "  No puede ser, es la tercera vez que pasa esto" in text
    assert "3 replies from 2026-11-24 12:03 to 2026-11-24 12:05" in text
    assert all(PHONES[c] not in text for c in PHONES)  # numbers masked
    assert await _digest_keys(desk.rig.store) == [f"incident:{iid}:digest:1"]

    # A tick with no new reply sends nothing; a reply after it goes into the next digest.
    assert await desk.digest() == 0
    assert len(desk.mails()) == 1
    desk.rig.clock.advance(timedelta(minutes=5))
    await desk.reply("c-2", "¿me avisan cuando salga?")
    assert await desk.digest() == 1
    second = desk.mails()[1]
    assert second["Subject"].startswith(f"Incident {iid}: 1 reply from customers")
    assert "c-2" in _text(second) and "c-1 " not in _text(second)
    assert await _digest_keys(desk.rig.store) == [
        f"incident:{iid}:digest:1", f"incident:{iid}:digest:2",
    ]  # fmt: skip
    assert await _replies(desk.rig.store) == [("c-1", 1), ("c-2", 1), ("c-3", 1), ("c-2", 2)]
    # Each reply is still the customer's interaction: their channel is the one they wrote on.
    c2 = await desk.rig.store.get_customer("c-2")
    assert c2 is not None and c2.last_used_channel == "sms"


async def test_other_replies_and_keywords_behave_as_before(desk: Desk) -> None:
    await _crisis(desk, "c-1", "c-2")
    await desk.reply("c-4", "¿Dónde está mi pedido?")  # never got a crisis message
    await desk.rig.dispatcher.dispatch_until_idle()
    [alone] = desk.mails()
    assert alone["Subject"] == "Reply on sms from Ana Pérez"
    assert "> ¿Dónde está mi pedido?" in _text(alone)

    await desk.reply("c-1", "STOP")
    await desk.reply("c-2", "AYUDA")
    assert await desk.digest() == 0  # keywords are never digested
    c1 = await desk.rig.store.get_customer("c-1")
    assert c1 is not None and c1.opted_out == {"sms"}
    assert await _replies(desk.rig.store) == []
    assert len(desk.mails()) == 1


async def test_a_replayed_reply_is_listed_once(desk: Desk) -> None:
    await _crisis(desk, "c-1")
    params = sms("¿hay novedades?", PHONES["c-1"])
    headers = {"X-Twilio-Signature": signature(INBOUND, params)}
    await desk.client.post(INBOUND, data=params, headers=headers)
    # The receipt lost (a failure after the write): the reply's own key still holds.
    await desk.rig.store.drop_receipt(f"twilio-inbound:{params['MessageSid']}")
    await desk.client.post(INBOUND, data=params, headers=headers)
    assert await desk.digest() == 1
    assert _text(desk.mails()[0]).count("¿hay novedades?") == 1


async def test_after_the_resolution_replies_are_the_incidents_for_a_day(desk: Desk) -> None:
    iid = await _crisis(desk, "c-1")
    rig = desk.rig
    service = Incidents(rig.store, rig.clock, rig.dispatcher.composer.renderer, "es", 2)
    await service.resolve(iid, messages=Texts("Los envíos se normalizaron."), by="ana")
    await _round(rig)
    rig.clock.advance(timedelta(hours=23))
    await desk.reply("c-1", "gracias!")
    assert await desk.digest() == 1
    rig.clock.advance(timedelta(hours=2))  # 25 h after the resolution
    await desk.reply("c-1", "me llegó roto")
    await rig.dispatcher.dispatch_until_idle()
    assert await desk.digest() == 0
    subjects = [m["Subject"] for m in desk.mails()]
    assert subjects == [
        f"Incident {iid}: 1 reply from customers (Paro de transportistas)",
        "Reply on sms from Ana Pérez",
    ]


async def test_two_replicas_at_once_write_one_digest(desk: Desk, db_url: str) -> None:
    iid = await _crisis(desk, "c-1", "c-2", "c-3")
    for cid in ("c-1", "c-2", "c-3"):
        await desk.reply(cid, f"respuesta de {cid}")
    rig = desk.rig
    other = Store.open(db_url)
    try:
        now, digest = rig.clock.now(), rig.settings.digest
        written = await asyncio.gather(
            send_digests(rig.store, now, digest), send_digests(other, now, digest),
            send_digests(rig.store, now, digest), send_digests(other, now, digest),
        )  # fmt: skip
        assert sum(written) == 1
        # The daemon's job on two replicas, as scheduled: one takes the tick.
        await desk.reply("c-1", "¿y?")
        settings = rig.settings.model_copy(update={"test_mode": True, "now": rig.clock.now()})
        replicas = [jobs_of(settings, s, rig.dispatcher) for s in (rig.store, other)]
        await asyncio.gather(*(j.crisis_digest() for j in replicas))
        await asyncio.gather(*(j.crisis_digest() for j in replicas))
    finally:
        await other.close()
    rig.clock.advance(timedelta(minutes=1))  # past the jobs' own clock, which runs on
    await rig.dispatcher.dispatch_until_idle()
    assert await _digest_keys(rig.store) == [f"incident:{iid}:digest:1", f"incident:{iid}:digest:2"]
    assert [m["Subject"].split(":")[1] for m in desk.mails()] == [
        " 3 replies from customers (Paro de transportistas)",
        " 1 reply from customers (Paro de transportistas)",
    ]
    assert [d for _, d in await _replies(rig.store)] == [1, 1, 1, 2]


async def test_a_forgotten_customer_leaves_a_pending_digest_and_its_texts_go(desk: Desk) -> None:
    await _crisis(desk, "c-1", "c-2")
    await desk.reply("c-1", "mi dirección es Corrientes 1234")
    await desk.reply("c-2", "ok")
    rig = desk.rig
    assert await send_digests(rig.store, rig.clock.now(), rig.settings.digest) == 1
    await desk.reply("c-1", "vivo en el 5° B")  # for the next digest: it goes altogether
    await rig.ledger.forget("c-1")
    await rig.dispatcher.dispatch_until_idle()
    [mail] = desk.mails()
    text = _text(mail)
    assert "Corrientes" not in text and "c-1 " not in text
    assert await desk.digest() == 0
    assert "1 reply from" in text and "  ok" in text
    r = incident_replies.c
    async with rig.store.reading() as conn:
        left = (await conn.execute(select(r.customer_id, r.body))).all()
    # The row stays (it was in digest 1, whose number must not come back), its text gone.
    assert sorted((c, b) for c, b in left) == [("c-1", None), ("c-2", "ok")]


async def test_retention_erases_digested_reply_texts(desk: Desk) -> None:
    await _crisis(desk, "c-1")
    await desk.reply("c-1", "¿novedades?")
    await desk.reply("c-2", "esto no es una respuesta a la crisis")
    rig = desk.rig
    assert await desk.digest() == 1
    await desk.reply("c-1", "¿y ahora?")  # not digested yet: kept for the next digest
    later = rig.clock.now() + timedelta(days=1)
    await rig.store.purge(later, later)
    r = incident_replies.c
    async with rig.store.reading() as conn:
        rows = (await conn.execute(select(r.body, r.digest).order_by(r.id))).all()
    assert [(b, d) for b, d in rows] == [(None, 1), ("¿y ahora?", None)]
