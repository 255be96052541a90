"""The inbound email webhook over HTTP, both databases: raw MIME and SendGrid's form, the
token, malformed messages, charsets and HTML, replays, keywords, replies forwarded to ops.

The crisis side (a reply to an incident's email in the digest, Message-ID matching) is in
test_crisis_digest_email.py.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from structlog.testing import capture_logs

from notifier.store.convert import interactions
from tests.webhooks_fixtures import OPS, Hooks, hooks

__all__ = ["hooks"]  # the fixture, imported for pytest

INBOUND = "/webhooks/email/inbound"
TOKEN = "inbound-email-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RAW = {**AUTH, "Content-Type": "message/rfc822"}


def reply(
    text: str,
    sender: str = "Ana Pérez <c-1@example.com>",
    *,
    message_id: str | None = "<reply-1@mail.example.com>",
    headers: str = "",
    charset: str = "utf-8",
) -> bytes:
    """Return a reply as a mail client writes it: 8-bit text in ``charset``, our email quoted."""
    head = (
        f"From: {sender}\r\nTo: Acme <avisos@acme.example>\r\n"
        "Subject: Re: Tu pedido\r\nDate: Tue, 24 Nov 2026 12:03:00 -0300\r\n"
        + (f"Message-ID: {message_id}\r\n" if message_id else "")
        + headers
        + f'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="{charset}"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    said = "El mar, 24 nov 2026 a las 11:00, Acme <avisos@acme.example> escribió:"
    if charset == "koi8-r":  # a Russian mail client, in English: KOI8-R has no "ó"
        said = "On Tue, 24 Nov 2026 at 11:00, Acme <avisos@acme.example> wrote:"
    quoted = f"\r\n\r\n{said}\r\n> Tu pedido A-1 llega tarde.\r\n> Perdon.\r\n"
    return head.encode() + (text + quoted).encode(charset)


def form(raw: bytes, boundary: str = "xYzZY") -> tuple[bytes, str]:
    """Return SendGrid Inbound Parse's form ("POST the raw, full MIME message") for ``raw``."""
    fields = [("to", b"avisos@acme.example"), ("from", b"c-1@example.com"), ("email", raw),
              ("charsets", b'{"to":"UTF-8"}')]  # fmt: skip
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value + b"\r\n"
        for name, value in fields
    )  # fmt: skip
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def mail(hooks: Hooks) -> Hooks:
    hooks.settings.api_token = SecretStr(TOKEN)
    return hooks


async def post(hooks: Hooks, raw: bytes, headers: dict[str, str] = RAW) -> httpx.Response:
    return await hooks.client.post(INBOUND, content=raw, headers=headers)


def text_of(hooks: Hooks, index: int = 0) -> str:
    body = hooks.smtp.received[index].parsed().get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


async def bodies(hooks: Hooks) -> list[str | None]:
    async with hooks.store.reading() as conn:
        return list(await conn.scalars(select(interactions.c.body).order_by(interactions.c.id)))


# -- the token ----------------------------------------------------------------------------

REFUSED = [
    pytest.param({"Content-Type": "message/rfc822"}, "", id="no-token"),
    pytest.param({**RAW, "Authorization": "Bearer wrong"}, "", id="wrong-bearer"),
    pytest.param({"Content-Type": "message/rfc822"}, "?token=wrong", id="wrong-query"),
    pytest.param({"Content-Type": "message/rfc822"}, "?token=", id="empty-query"),
]


@pytest.mark.parametrize(("headers", "query"), REFUSED)
async def test_without_the_token_nothing_is_read(
    mail: Hooks, headers: dict[str, str], query: str
) -> None:
    await mail.customer("c-1")
    answer = await mail.client.post(INBOUND + query, content=reply("hola"), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    customer = await mail.store.get_customer("c-1")
    assert customer is not None and customer.last_used_channel is None
    assert TOKEN not in answer.text


async def test_the_token_may_come_in_the_query(mail: Hooks) -> None:
    await mail.customer("c-1")
    answer = await mail.client.post(
        f"{INBOUND}?token={TOKEN}", content=reply("hola"),
        headers={"Content-Type": "message/rfc822"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    customer = await mail.store.get_customer("c-1")
    assert customer is not None and customer.last_used_channel == "email"


async def test_without_an_api_token_configured_the_route_is_closed(hooks: Hooks) -> None:
    answer = await post(hooks, reply("hola"))
    assert answer.status_code == 503
    assert "NOTIFIER_API_TOKEN" in answer.json()["detail"]


# -- what is read -------------------------------------------------------------------------


async def test_a_raw_reply_reaches_ops_without_the_quoted_email(mail: Hooks) -> None:
    await mail.customer("c-1")
    mail.clock.advance(timedelta(minutes=1))
    answer = await post(mail, reply("¿Cuándo llega?\r\nLo necesito el viernes.\r\n-- \r\nAna"))
    assert answer.status_code == 200 and answer.json() == {"outcome": "forwarded"}
    assert await mail.dispatched() == 1
    assert [m.rcpt_tos for m in mail.smtp.received] == [[OPS]]
    assert mail.smtp.received[0].parsed()["Subject"] == "Reply on email from Ana Pérez"
    content = text_of(mail)
    assert "> ¿Cuándo llega?\n> Lo necesito el viernes.\n" in content
    assert "Perdon" not in content and "escribió" not in content and "> Ana" not in content
    assert "Customer c-1 (Ana Pérez), timeline, newest first:" in content
    assert "interaction  inbound email" in content
    customer = await mail.store.get_customer("c-1")
    assert customer is not None and customer.last_used_channel == "email"
    assert await bodies(mail) == ["¿Cuándo llega?\nLo necesito el viernes."]


async def test_sendgrids_form_carries_the_raw_message(mail: Hooks) -> None:
    await mail.customer("c-1")
    # Latin-1 bytes inside the form: read byte for byte, not as UTF-8 text.
    body, content_type = form(reply("¿Llegó? Gracias, señor", charset="iso-8859-1"))
    answer = await post(mail, body, {**AUTH, "Content-Type": content_type})
    assert answer.status_code == 200 and answer.json() == {"outcome": "forwarded"}
    assert await bodies(mail) == ["¿Llegó? Gracias, señor"]


@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "urlencoded"])
async def test_mailguns_mime_form_carries_it_in_body_mime(mail: Hooks, multipart: bool) -> None:
    await mail.customer("c-1")
    raw = reply("¿Llegó? Gracias, señor", charset="iso-8859-1")
    if multipart:
        body = (b'--mg\r\nContent-Disposition: form-data; name="recipient"\r\n\r\nx@y\r\n'
                b'--mg\r\nContent-Disposition: form-data; name="body-mime"\r\n\r\n' + raw
                + b"\r\n--mg--\r\n")  # fmt: skip
        content_type = "multipart/form-data; boundary=mg"
    else:
        body = urlencode({"recipient": "x@y", "body-mime": raw}).encode()
        content_type = "application/x-www-form-urlencoded"
    # Mailgun needs the URL to end in "mime": an extra parameter does it.
    answer = await mail.client.post(
        f"{INBOUND}?token={TOKEN}&format=mime", content=body,
        headers={"Content-Type": content_type},
    )  # fmt: skip
    assert answer.status_code == 200 and answer.json() == {"outcome": "forwarded"}
    assert await bodies(mail) == ["¿Llegó? Gracias, señor"]


async def test_a_form_without_the_email_field_is_422(mail: Hooks) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\nhola\r\n--b--\r\n'
    answer = await post(mail, body, {**AUTH, "Content-Type": "multipart/form-data; boundary=b"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"field": "email", "message": "missing: the form has no email or body-mime field"}
    ]


CHARSETS = [
    pytest.param("iso-8859-1", "¿Cuándo llega? Gracias", id="latin-1"),
    pytest.param("windows-1252", "Cadê meu pedido? “já”", id="windows-1252"),
    pytest.param("koi8-r", "Где мой заказ?", id="koi8-r"),
]


@pytest.mark.parametrize(("charset", "text"), CHARSETS)
async def test_a_body_in_another_charset_is_read_in_it(
    mail: Hooks, charset: str, text: str
) -> None:
    await mail.customer("c-1")
    answer = await post(mail, reply(text, charset=charset))
    assert answer.status_code == 200
    assert await bodies(mail) == [text]


async def test_an_html_only_reply_is_read_as_text_without_the_quote(mail: Hooks) -> None:
    await mail.customer("c-1")
    html = (
        "<html><head><style>p { color: red }</style></head><body>"
        "<p>Hola,&nbsp;¿y mi pedido?</p><div>Gracias &amp; saludos<br>Ana</div>"
        '<div class="gmail_quote">El mar, 24 nov 2026 a las 11:00, Acme escribió:<br>'
        "<blockquote>Tu pedido A-1 llega tarde.</blockquote></div></body></html>"
    )
    raw = (
        b"From: c-1@example.com\r\nMessage-ID: <html-1@mail.example.com>\r\n"
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    raw += base64.encodebytes(html.encode())
    answer = await post(mail, raw)
    assert answer.status_code == 200
    assert await bodies(mail) == ["Hola, ¿y mi pedido?\n\nGracias & saludos\nAna"]


MALFORMED = [
    pytest.param(b"", "message", "empty: expected an RFC 5322 message", id="empty"),
    pytest.param(b"hola, esto no es un email", "message",
                 "no header section: expected an RFC 5322 message", id="no-headers"),
    pytest.param(b"Subject: hola\r\n\r\nhola", "From", "missing: no sender to match",
                 id="no-from"),
    pytest.param(b"From: Ana\r\n\r\nhola", "From", "not one mailbox address", id="from-no-address"),
    pytest.param(b"From: a@example.com, b@example.com\r\n\r\nhola", "From",
                 "not one mailbox address", id="two-senders"),
    pytest.param(b"From: c-1@example.com\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
                 b"no part starts here", "message",
                 "broken MIME structure (StartBoundaryNotFoundDefect)", id="no-boundary"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "field", "message"), MALFORMED)
async def test_a_malformed_message_is_422_naming_what_is_wrong(
    mail: Hooks, raw: bytes, field: str, message: str
) -> None:
    await mail.customer("c-1")
    answer = await post(mail, raw)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [{"field": field, "message": message}]
    assert await bodies(mail) == []


async def test_a_body_over_the_limit_is_413(mail: Hooks) -> None:
    big = reply("x" * (mail.settings.http.max_body_bytes + 1))
    answer = await post(mail, big)
    assert answer.status_code == 413


# -- who it is from, and once ---------------------------------------------------------------


async def test_an_unknown_sender_is_200_and_still_reaches_ops(mail: Hooks) -> None:
    await mail.customer("c-1")
    with capture_logs() as logs:
        answer = await post(mail, reply("hola, soy nuevo", "Otro <otro@example.net>"))
    assert answer.status_code == 200 and answer.json() == {"outcome": "unknown_sender"}
    await mail.dispatched()
    content = text_of(mail)
    assert "otro@example.net" in content and "No customer has this address" in content
    [event] = [e for e in logs if e["event"] == "webhooks.inbound_email"]
    assert event["sender"] == "o***@example.net" and event["customers"] == []
    assert "hola, soy nuevo" not in repr(logs)


async def test_the_sender_is_matched_whatever_its_case(mail: Hooks) -> None:
    await mail.customer("c-1", email="Ana.Perez@Example.com")
    answer = await post(mail, reply("hola", "ANA.PEREZ@example.COM"))
    assert answer.json() == {"outcome": "forwarded"}
    customer = await mail.store.get_customer("c-1")
    assert customer is not None and customer.last_used_channel == "email"


async def test_a_duplicate_delivery_is_acted_on_once(mail: Hooks) -> None:
    await mail.customer("c-1")
    raw = reply("¿me llaman?")
    assert (await post(mail, raw)).json() == {"outcome": "forwarded"}
    mail.clock.advance(timedelta(minutes=2))
    assert (await post(mail, raw)).json() == {"outcome": "replay"}
    # The receipt lost (a failure after the forward): the forward's dedupe key still holds.
    await mail.store.drop_receipt("email-inbound:<reply-1@mail.example.com>")
    assert (await post(mail, raw)).json() == {"outcome": "forwarded"}
    await mail.dispatched()
    assert [m.rcpt_tos for m in mail.smtp.received] == [[OPS]]


async def test_without_a_message_id_the_same_bytes_are_the_same_email(mail: Hooks) -> None:
    await mail.customer("c-1")
    raw = reply("¿me llaman?", message_id=None)
    assert (await post(mail, raw)).json() == {"outcome": "forwarded"}
    assert (await post(mail, raw)).json() == {"outcome": "replay"}
    mail.clock.advance(timedelta(seconds=1))
    assert (await post(mail, reply("otra", message_id=None))).json() == {"outcome": "forwarded"}
    assert await bodies(mail) == ["¿me llaman?", "otra"]


async def test_an_automatic_reply_is_acknowledged_and_dropped(mail: Hooks) -> None:
    await mail.customer("c-1")
    raw = reply("Estoy de vacaciones hasta el lunes.", headers="Auto-Submitted: auto-replied\r\n")
    assert (await post(mail, raw)).json() == {"outcome": "automatic"}
    await mail.dispatched()
    assert mail.smtp.received == [] and await bodies(mail) == []


async def test_stop_by_email_opts_out_of_email_and_start_back_in(mail: Hooks) -> None:
    await mail.customer("c-1")
    assert (await post(mail, reply("BAJA"))).json() == {"outcome": "opted_out"}
    customer = await mail.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"email"}
    again = reply("Alta", message_id="<reply-2@mail.example.com>")
    assert (await post(mail, again)).json() == {"outcome": "opted_in"}
    customer = await mail.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == frozenset()
    await mail.dispatched()
    assert mail.smtp.received == []


async def test_help_by_email_goes_to_a_person(mail: Hooks) -> None:
    await mail.customer("c-1")
    assert (await post(mail, reply("AYUDA"))).json() == {"outcome": "forwarded"}
    await mail.dispatched()
    assert "> AYUDA" in text_of(mail)
