"""Email through a real aiosmtpd server on loopback: the MIME we send and the errors we map."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email.headerregistry import Address
from pathlib import Path

import pytest

from notifier.channels.base import (
    ChannelDownError,
    OutboundMessage,
    PermanentError,
    Reason,
    SendError,
    TransientError,
)
from notifier.channels.email_message import message_id
from notifier.channels.smtp import SmtpEmail, SmtpSettings
from tests.fakes.smtp_server import SmtpFake, free_port

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

FROM = "Acme Avisos <avisos@acme.example>"
UNSUBSCRIBE = "https://notifier.acme.example/unsubscribe/abc.def"


def mail(to: str = "ana@example.com", key: str = "rule:7:1:0") -> OutboundMessage:
    return OutboundMessage(
        dedupe_key=key,
        channel="email",
        to=to,
        to_name="José Müller-Ñandú",
        subject="Tu pedido se retrasa — lo sentimos",
        text="Hola José, tu pedido 1234 llega el jueves.\n",
        html="<p>Hola José, tu pedido <b>1234</b> llega el jueves.</p>\n",
        message_name="delivery_late",
        locale="es",
        unsubscribe_url=UNSUBSCRIBE,
    )


def settings(fake: SmtpFake, **changes: object) -> SmtpSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": fake.port,
        "email_from": FROM,
        "tls": "none",
        "timeout": timedelta(seconds=5),
    }
    base.update(changes)
    return SmtpSettings(**base)  # type: ignore[arg-type]  # tests pass valid fields


async def test_the_message_as_received(email: SmtpEmail, smtp_fake: SmtpFake) -> None:
    receipt = await email.send(mail())

    [received] = smtp_fake.received
    assert received.mail_from == "avisos@acme.example"
    assert received.rcpt_tos == ["ana@example.com"]
    raw = received.raw.decode("ascii")  # every header and part is 7-bit on the wire
    assert "José" not in raw
    parsed = received.parsed()
    [to] = parsed["To"].addresses
    assert to == Address("José Müller-Ñandú", "ana", "example.com")
    assert parsed["Subject"] == "Tu pedido se retrasa — lo sentimos"
    assert parsed["From"] == FROM
    assert parsed["Reply-To"] == "soporte@acme.example"
    assert parsed["Message-ID"] == message_id("rule:7:1:0", FROM)
    assert parsed["Message-ID"].endswith("@acme.example>")
    assert receipt.provider_id == parsed["Message-ID"]
    assert parsed["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    # SMTP carries CRLF line ends; the parts decode to the same text otherwise.
    assert (
        text.get_content().replace("\r\n", "\n") == "Hola José, tu pedido 1234 llega el jueves.\n"
    )
    assert (
        html.get_content().replace("\r\n", "\n")
        == "<p>Hola José, tu pedido <b>1234</b> llega el jueves.</p>\n"
    )
    assert text.get_content_charset() == "utf-8"
    assert text["Content-Transfer-Encoding"] == "quoted-printable"


async def test_a_resend_keeps_its_message_id(email: SmtpEmail, smtp_fake: SmtpFake) -> None:
    await email.send(mail(key="rule:7:1:0"))
    await email.send(mail(key="rule:7:1:0"))
    await email.send(mail(key="rule:7:1:1"))
    ids = [r.parsed()["Message-ID"] for r in smtp_fake.received]
    assert ids[0] == ids[1] != ids[2]


async def test_text_only_message_is_not_multipart(email: SmtpEmail, smtp_fake: SmtpFake) -> None:
    plain = OutboundMessage(
        dedupe_key="k", channel="email", to="ana@example.com", text="Hola", message_name="m",
        locale="es", subject="Aviso",
    )  # fmt: skip
    await email.send(plain)
    parsed = smtp_fake.received[0].parsed()
    assert parsed.get_content_type() == "text/plain"
    assert "List-Unsubscribe" not in parsed


WIRE = [
    pytest.param("nobody@example.com", PermanentError, Reason.RECIPIENT_REFUSED, "550",
                 id="rcpt-550"),
    pytest.param("full@example.com", TransientError, Reason.TEMPORARY_FAILURE, "452",
                 id="rcpt-452"),
    pytest.param("greylist@example.com", TransientError, Reason.TEMPORARY_FAILURE, "451",
                 id="rcpt-451"),
]  # fmt: skip


@pytest.mark.parametrize(("to", "kind", "reason", "code"), WIRE)
async def test_wire_answers_map_to_kinds(
    email: SmtpEmail, to: str, kind: type[SendError], reason: Reason, code: str
) -> None:
    with pytest.raises(SendError) as caught:
        await email.send(mail(to))
    assert type(caught.value) is kind
    assert (caught.value.reason, caught.value.code) == (reason, code)
    if isinstance(caught.value, PermanentError):
        assert caught.value.address_failed is True


async def test_a_refused_recipient_leaves_the_connection_usable(
    email: SmtpEmail, smtp_fake: SmtpFake
) -> None:
    with pytest.raises(PermanentError):
        await email.send(mail("nobody@example.com"))
    await email.send(mail())
    assert smtp_fake.connections == 1
    assert len(smtp_fake.received) == 1


async def test_connections_are_reused(email: SmtpEmail, smtp_fake: SmtpFake) -> None:
    for i in range(5):
        await email.send(mail(key=f"k{i}"))
    await asyncio.gather(*(email.send(mail(key=f"c{i}")) for i in range(20)))
    assert len(smtp_fake.received) == 25
    assert smtp_fake.connections <= 8  # the pool's size, not one per message


@pytest.fixture
def smtp_with_auth() -> Iterator[SmtpFake]:
    fake = SmtpFake(username="notifier", password="s3cret")
    fake.start()
    yield fake
    fake.stop()


async def test_login_once_per_connection(smtp_with_auth: SmtpFake) -> None:
    channel = SmtpEmail(settings(smtp_with_auth, username="notifier", password="s3cret"))
    try:
        await channel.send(mail(key="a"))
        await channel.send(mail(key="b"))
    finally:
        await channel.aclose()
    assert len(smtp_with_auth.received) == 2
    assert smtp_with_auth.logins == 1


@pytest.mark.parametrize(
    ("username", "password", "reason", "code"),
    [
        ("notifier", "wrong", Reason.AUTH_FAILED, "535"),
        (None, None, Reason.MISCONFIGURED, "530"),
    ],
    ids=["bad-password", "no-credentials"],
)
async def test_authentication_failures_mean_channel_down(
    smtp_with_auth: SmtpFake, username: str | None, password: str | None, reason: Reason, code: str
) -> None:
    channel = SmtpEmail(settings(smtp_with_auth, username=username, password=password))
    try:
        with pytest.raises(ChannelDownError) as caught:
            await channel.send(mail())
    finally:
        await channel.aclose()
    assert (caught.value.reason, caught.value.code) == (reason, code)
    assert "wrong" not in str(caught.value)
    assert smtp_with_auth.received == []


async def test_no_server_is_transient() -> None:
    channel = SmtpEmail(
        SmtpSettings(host="127.0.0.1", port=free_port(), email_from=FROM, tls="none")
    )
    with pytest.raises(TransientError) as caught:
        await channel.send(mail())
    assert caught.value.reason == Reason.CONNECTION


async def test_starttls_refused_by_a_plain_server_means_channel_down(smtp_fake: SmtpFake) -> None:
    channel = SmtpEmail(settings(smtp_fake, tls="starttls"))
    try:
        with pytest.raises(ChannelDownError) as caught:
            await channel.send(mail())
    finally:
        await channel.aclose()
    assert caught.value.reason == Reason.MISCONFIGURED


async def test_spool_keeps_each_message_as_eml(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    fake = SmtpFake(spool=spool)
    fake.start()
    channel = SmtpEmail(settings(fake))
    try:
        await channel.send(mail())
    finally:
        await channel.aclose()
        fake.stop()
    [eml] = sorted(spool.glob("*.eml"))
    assert eml.read_bytes() == fake.received[0].raw


@pytest.mark.parametrize("to", ["not-an-address", "ana@example.com\r\nBcc: all@example.com"])
async def test_a_malformed_address_is_a_dead_address(
    email: SmtpEmail, smtp_fake: SmtpFake, to: str
) -> None:
    with pytest.raises(PermanentError) as caught:
        await email.send(mail(to))
    assert caught.value.address_failed is True
    assert smtp_fake.received == []


async def test_a_line_starting_from_arrives_as_written(
    email: SmtpEmail, smtp_fake: SmtpFake
) -> None:
    text = "Hola,\nFrom now on your orders ship from Rosario.\n"
    await email.send(replace(mail(), text=text, to_name="Ana\r\nBcc: all@example.com"))
    parsed = smtp_fake.received[0].parsed()
    body = parsed.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == text
    assert "Bcc" not in parsed
    assert smtp_fake.received[0].rcpt_tos == ["ana@example.com"]
