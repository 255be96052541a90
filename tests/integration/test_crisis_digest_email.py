"""Customers' email replies to crisis emails: in the incident's digest, both databases.

The crisis fan-out goes out by email through the SMTP fake; the replies quote its
Message-ID as mail clients do (In-Reply-To, References) and are posted to the inbound
email webhook over HTTP; the digest is sent through the SMTP fake and parsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import httpx
import pytest
from pydantic import SecretStr

from notifier.domain.incidents import Severity
from notifier.engine.crisis.commands import Incidents, Texts
from notifier.engine.crisis.planner import plan_incidents
from notifier.engine.crisis.replies import send_digests
from tests.integration.rig import Rig
from tests.integration.test_webhooks_inbound_email import INBOUND, RAW, TOKEN
from tests.webhooks_fixtures import OPS, serve, webhook_settings

CUSTOMERS = ("c-1", "c-2", "c-3")


@dataclass
class Desk:
    rig: Rig
    client: httpx.AsyncClient
    apologies: dict[str, EmailMessage]  # customer -> the crisis email they got

    async def reply(
        self, sender: str, text: str, *, answers: str | None, message_id: str
    ) -> httpx.Response:
        """Post ``sender``'s reply to the apology ``answers`` (a customer id) as raw MIME."""
        head = f"From: {sender}\r\nTo: avisos@acme.example\r\nMessage-ID: {message_id}\r\n"
        if answers is not None:
            ours = self.apologies[answers]["Message-ID"]
            head += f"Subject: Re: {self.apologies[answers]['Subject']}\r\n"
            head += f"In-Reply-To: {ours}\r\nReferences: {ours}\r\n"
        head += "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        body = f"{text}\r\n\r\nOn Tue, 24 Nov 2026, Acme wrote:\r\n> Perdón por la demora\r\n"
        answer = await self.client.post(INBOUND, content=(head + body).encode(), headers=RAW)
        assert answer.status_code == 200, answer.text
        return answer

    async def digest(self) -> int:
        written = await send_digests(self.rig.store, self.rig.clock.now(), self.rig.settings.digest)
        await self.rig.dispatcher.dispatch_until_idle()
        return written

    def mails(self) -> list[EmailMessage]:
        return [m.parsed() for m in self.rig.smtp.received if m.rcpt_tos == [OPS]]


async def _open(rig: Rig) -> tuple[int, dict[str, EmailMessage]]:
    """c-1..c-3 write by email; c-1 and c-2 are in a strike: open it, send the apologies."""
    for cid in CUSTOMERS:
        await rig.customer(cid, last_used="email", phone=None)
        carrier = "oca" if cid == "c-3" else "andreani"
        await rig.promise(cid, f"A-{cid}", timedelta(hours=5), carrier=carrier)
    service = Incidents(rig.store, rig.clock, rig.dispatcher.composer.renderer, "es", 2)
    iid = await service.open(
        titles=Texts("Paro de transportistas", (), "--title"), messages=Texts(None),
        severity=Severity.MAJOR, match=["attributes.carrier=andreani"], estimate=None, by="ana",
    )  # fmt: skip
    await rig.scan()
    await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
    await rig.dispatcher.dispatch_until_idle()
    sent = {m.rcpt_tos[0].split("@")[0]: m.parsed() for m in rig.smtp.received}
    assert set(sent) == {"c-1", "c-2"}
    rig.smtp.reset()
    rig.clock.advance(timedelta(minutes=3))
    return iid, sent


@pytest.fixture
async def desk(rig: Rig) -> AsyncIterator[tuple[Desk, int]]:
    settings = webhook_settings(rig.smtp.port, api_token=SecretStr(TOKEN))
    client, _ = await serve(settings, rig.store, rig.clock, [])
    iid, apologies = await _open(rig)
    async with client:
        yield Desk(rig, client, apologies), iid


def _text(mail: EmailMessage) -> str:
    return str(mail.get_body(("plain",)).get_content()).replace("\r\n", "\n")  # type: ignore[union-attr]


async def test_an_email_reply_to_the_apology_is_in_the_digest(desk: tuple[Desk, int]) -> None:
    d, iid = desk
    answer = await d.reply("Ana <C-1@example.com>", "¿Y ahora cuándo llega?", answers="c-1",
                           message_id="<r1@mail.example.com>")  # fmt: skip
    assert answer.json() == {"outcome": "digest"}
    await d.rig.dispatcher.dispatch_until_idle()
    assert d.mails() == []  # not forwarded alone
    assert await d.digest() == 1
    [mail] = d.mails()
    assert mail["Subject"] == f"Incident {iid}: 1 reply from customers (Paro de transportistas)"
    text = _text(mail)
    assert "2026-11-24 12:03  c-1  email C***@example.com" in text
    assert "  ¿Y ahora cuándo llega?" in text
    assert "Perdón por la demora" not in text and "wrote" not in text
    customer = await d.rig.store.get_customer("c-1")
    assert customer is not None and customer.last_used_channel == "email"


async def test_the_same_reply_delivered_twice_is_listed_once(desk: tuple[Desk, int]) -> None:
    d, _ = desk
    for _ in range(2):
        await d.reply("c-2@example.com", "ok gracias", answers="c-2", message_id="<r2@m.example>")
    # The receipt lost (a failure after the write): the reply's own key still holds.
    await d.rig.store.drop_receipt("email-inbound:<r2@m.example>")
    await d.reply("c-2@example.com", "ok gracias", answers="c-2", message_id="<r2@m.example>")
    assert await d.digest() == 1
    assert _text(d.mails()[0]).count("ok gracias") == 1


async def test_a_reply_without_the_thread_is_matched_by_its_sender(desk: tuple[Desk, int]) -> None:
    d, iid = desk
    # A new email, not a reply: c-1's newest message from us is still the apology.
    await d.reply("c-1@example.com", "hola?", answers=None, message_id="<r3@m.example>")
    assert await d.digest() == 1
    assert d.mails()[0]["Subject"].startswith(f"Incident {iid}: 1 reply")


async def test_someone_else_quoting_the_apology_is_not_its_customer(
    desk: tuple[Desk, int],
) -> None:
    d, _ = desk
    # c-1's apology forwarded to a stranger, who answers it: not c-1's reply.
    answer = await d.reply("otro@example.net", "¿qué es esto?", answers="c-1",
                           message_id="<r4@m.example>")  # fmt: skip
    assert answer.json() == {"outcome": "unknown_sender"}
    # c-3 (another customer, no crisis email) answers c-1's apology: their own reply, alone.
    answer = await d.reply("c-3@example.com", "a mí no me llegó nada", answers="c-1",
                           message_id="<r5@m.example>")  # fmt: skip
    assert answer.json() == {"outcome": "forwarded"}
    assert await d.digest() == 0
    subjects = sorted(m["Subject"] for m in d.mails())
    assert subjects == ["Reply on email from Ana Pérez", "Reply on email from otro@example.net"]
    texts = "".join(_text(m) for m in d.mails())
    assert "Customer c-1" not in texts and "Customer c-3 (Ana Pérez)" in texts


async def test_a_reply_to_a_non_crisis_email_is_forwarded(desk: tuple[Desk, int]) -> None:
    d, iid = desk
    rig = d.rig
    service = Incidents(rig.store, rig.clock, rig.dispatcher.composer.renderer, "es", 2)
    await service.resolve(iid, messages=Texts("Los envíos se normalizaron."), by="ana")
    await rig.scan()
    await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
    await rig.dispatcher.dispatch_until_idle()
    rig.smtp.reset()
    rig.clock.advance(timedelta(hours=25))  # past the day a resolution's replies are its own
    await d.reply("c-1@example.com", "me llegó roto", answers="c-1", message_id="<r6@m.example>")
    await rig.dispatcher.dispatch_until_idle()
    assert await d.digest() == 0
    [mail] = d.mails()
    assert mail["Subject"] == "Reply on email from Ana Pérez"
    assert "> me llegó roto" in _text(mail)
