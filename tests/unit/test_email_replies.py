"""Email replies: the customer's words without the quote, HTML as text, the raw message read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.channels.email_inbound import form_field, parse_reply
from notifier.domain.email_replies import REPLY_CHARS, bounded, html_text, reply_text
from notifier.domain.errors import InvalidInputError

TEXTS = [
    pytest.param("¿Cuándo llega?", "¿Cuándo llega?", id="plain"),
    pytest.param("Gracias\n\n> Tu pedido llega tarde\n> Perdón", "Gracias", id="quoted-below"),
    pytest.param("> Tu pedido llega tarde\n\nok, espero", "ok, espero", id="quoted-above"),
    pytest.param(
        "Bien\n\nOn Tue, 24 Nov 2026 at 12:03, Acme <avisos@acme.example> wrote:\n> hi",
        "Bien", id="gmail-en",
    ),
    pytest.param(
        "Bien\n\nEl mar, 24 nov 2026 a las 12:03, Acme (<avisos@acme.example>)\nescribió:\n> x",
        "Bien", id="gmail-es-wrapped",
    ),
    pytest.param("Obrigado\n\nEm ter., 24 de nov. de 2026 às 12:03, Acme escreveu:\n> x",
                 "Obrigado", id="gmail-pt"),
    pytest.param("Ok\n-- \nAna Pérez\nTel. 11 5555-0101", "Ok", id="signature"),
    pytest.param("Ok\n--\nAna", "Ok", id="signature-without-its-space"),
    pytest.param("a -- b\n--- no rule", "a -- b\n--- no rule", id="dashes-in-text"),
    pytest.param(
        "Llega?\n\n-----Mensaje original-----\nDe: Acme\nEnviado: martes\nTu pedido",
        "Llega?", id="outlook-original",
    ),
    pytest.param(
        "Llega?\n\n________________________________\nFrom: Acme <avisos@acme.example>\n"
        "Sent: Tuesday\nTo: Ana\nTu pedido", "Llega?", id="outlook-rule",
    ),
    pytest.param("De: mi casa a la tuya, ¿llega?", "De: mi casa a la tuya, ¿llega?",
                 id="de-in-a-sentence"),
    pytest.param("uno\r\ndos\r\n\r\n\r\n\r\ntres", "uno\ndos\n\ntres", id="crlf-and-blanks"),
    pytest.param("a\x00b", "a\ufffdb", id="nul"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), TEXTS)
def test_reply_text_keeps_the_customers_words(body: str, expected: str) -> None:
    assert reply_text(body) == expected


@given(st.text())
def test_reply_text_is_bounded(body: str) -> None:
    assert len(reply_text(body)) <= REPLY_CHARS


def test_a_long_reply_is_cut_with_an_ellipsis() -> None:
    cut = bounded("x" * (REPLY_CHARS + 10))
    assert len(cut) == REPLY_CHARS and cut.endswith("…")


HTML = [
    pytest.param("<p>Hola</p><p>¿y?</p>", "Hola\n\n¿y?", id="paragraphs"),
    pytest.param("uno<br>dos", "uno\ndos", id="br"),
    pytest.param("<style>p{}</style><script>x()</script>hola", "hola", id="hidden"),
    pytest.param("ok<blockquote>quoted <b>old</b></blockquote>", "ok", id="blockquote"),
    pytest.param("a &amp; b&nbsp;c", "a & b c", id="entities"),
]


@pytest.mark.parametrize(("html", "expected"), HTML)
def test_html_text(html: str, expected: str) -> None:
    assert html_text(html) == expected


def test_the_reply_names_what_it_answers_in_order() -> None:
    mail = parse_reply(
        b"From: Ana <ana@example.com>\r\nMessage-ID: <me@x>\r\nIn-Reply-To: <b@acme>\r\n"
        b"References: <a@acme>\r\n <b@acme>\r\nAuto-Submitted: no\r\n\r\nhola\r\n"
    )
    assert mail.sender == "ana@example.com" and mail.message_id == "<me@x>"
    assert mail.references == ("<b@acme>", "<a@acme>")
    assert mail.text == "hola" and not mail.auto


@pytest.mark.parametrize(
    "header",
    ["Auto-Submitted: auto-replied", "Precedence: auto_reply", "X-Autoreply: yes"],
    ids=["rfc3834", "precedence", "x-autoreply"],
)
def test_automatic_answers_are_told_apart(header: str) -> None:
    raw = f"From: ana@example.com\r\n{header}\r\n\r\nDe vacaciones\r\n".encode()
    assert parse_reply(raw).auto


def test_the_plain_part_of_an_alternative_is_preferred() -> None:
    raw = (
        b"From: ana@example.com\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain words\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html words</p>\r\n--b--\r\n"
    )
    assert parse_reply(raw).text == "plain words"


def test_an_unknown_charset_is_still_read() -> None:
    raw = b"From: ana@example.com\r\nContent-Type: text/plain; charset=x-unheard-of\r\n\r\nhola\r\n"
    assert parse_reply(raw).text == "hola"


def test_a_form_field_comes_back_byte_for_byte() -> None:
    raw = b"From: ana@example.com\r\n\r\n\xbfLleg\xf3?\r\n"
    body = b'--q\r\nContent-Disposition: form-data; name="email"\r\n\r\n' + raw + b"\r\n--q--\r\n"
    assert form_field("multipart/form-data; boundary=q", body, "email") == raw
    assert form_field("multipart/form-data; boundary=q", body, "other") is None


def test_a_form_without_its_boundary_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="boundary"):
        form_field("multipart/form-data", b"whatever", "email")
