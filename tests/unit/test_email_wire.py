"""The email bytes written directly agree, byte for byte, with the email package's own."""

from __future__ import annotations

import io
import random
import re
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr

import pytest

from notifier.channels.base import OutboundMessage
from notifier.channels.email_message import _UTF8_QP, build_email, message_id

NOW = datetime(2026, 11, 25, 12, 0, 7, tzinfo=UTC)
LONG_URL = "https://notifier.acme.example/unsubscribe/" + "x" * 950
NAMES = [None, "", "Ana", "José Müller-Ñandú", 'Ana "la jefa" O\'Neil', "Zoë " * 30, "a\nb"]
SUBJECTS = [
    "",
    "Tu pedido",
    "Tu pedido se retrasa — lo sentimos",
    "Perdón: tu pedido A-10432 viene con demora y lo sentimos muchísimo, de verdad 🙏 ñ" * 2,
    "plain " * 200,  # ASCII past 998 octets: folded
    "two\r\nlines\tand  spaces ",
]
TEXTS = [
    "Hola José,\n\ntu pedido 1234 llega el jueves.\n",
    "no line end; From here = there ",
    "From the start\r\nCRLF\rCR only\n\n\n.\n..dots\n" + "long line ñ " * 40,
    "trailing spaces   \nand tabs\t\nemoji 🙂 and \x85 \u2028 separators\x0c",
]
HTMLS = [None, "", "<p>Hola <b>José</b> &amp; =3D</p>\n", "<p>" + "ñandú " * 60 + "</p>"]


def reference(message: OutboundMessage, email_from: str, reply_to: str | None) -> Message:
    """The same message built with the compat32 classes (as before the direct writer)."""
    charset = Charset("utf-8")
    charset.header_encoding = charset.body_encoding = QP
    email: Message = _ref_part(message.text, "plain", charset)
    if message.html:
        html = _ref_part(message.html, "html", charset)
        email = MIMEMultipart("alternative", _subparts=[email, html])
    email["From"] = _ref_address(email_from, charset)
    name = " ".join((message.to_name or "").split())
    email["To"] = formataddr((name, message.to), charset=charset)
    if reply_to:
        email["Reply-To"] = _ref_address(reply_to, charset)
    subject = " ".join((message.subject or "").split())
    email["Subject"] = subject if subject.isascii() else Header(subject, charset).encode()
    email["Date"] = format_datetime(NOW)
    email["Message-ID"] = message_id(message.dedupe_key, email_from)
    if message.unsubscribe_url:
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email["Auto-Submitted"] = "auto-generated"
    return email


def _ref_part(text: str, subtype: str, charset: Charset) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text if text.endswith("\n") else text + "\n", charset)
    return part


def _ref_address(value: str, charset: Charset) -> str:
    name, address = parseaddr(value)
    if not address or value.isascii():
        return " ".join(value.split())
    return formataddr((" ".join(name.split()), address), charset=charset)


def flatten(email: Message, boundary: str | None) -> bytes:
    if boundary is not None:
        email.set_boundary(boundary)
    out = io.BytesIO()
    policy = compat32.clone(linesep="\r\n", max_line_length=998)
    BytesGenerator(out, mangle_from_=False, policy=policy).flatten(email)
    return out.getvalue()


def cases() -> list[tuple[OutboundMessage, str, str | None]]:
    rng = random.Random(8)
    found = []
    for i in range(120):
        message = OutboundMessage(
            dedupe_key=f"rule:{i}", channel="email", to=f"c{i}@example.com",
            text=rng.choice(TEXTS), message_name="m", locale="es",
            subject=rng.choice(SUBJECTS), html=rng.choice(HTMLS), to_name=rng.choice(NAMES),
            unsubscribe_url=rng.choice([None, "https://n.example/unsubscribe/a.b", LONG_URL]),
        )  # fmt: skip
        email_from = rng.choice(["Acme <avisos@acme.example>", "Ácme Ñ <avisos@acme.example>"])
        found.append((message, email_from, rng.choice([None, "Soporte Ü <s@acme.example>"])))
    return found


@pytest.mark.parametrize(("message", "email_from", "reply_to"), cases())
def test_same_bytes_as_the_email_package(
    message: OutboundMessage, email_from: str, reply_to: str | None
) -> None:
    ours = build_email(message, email_from, reply_to, NOW)
    assert isinstance(ours, bytes)
    boundary = re.search(rb'boundary="([^"]+)"', ours)
    expected = flatten(
        reference(message, email_from, reply_to), boundary[1].decode() if boundary else None
    )
    assert ours == expected


def test_encoded_words_split_where_the_email_package_splits() -> None:
    stock = Charset("utf-8")
    stock.header_encoding = QP
    rng = random.Random(3)
    alphabet = "aZ09 _=?!*+-/.,:;()\"'ñÑüé—🙂\t"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        # A first line too short for even one character gives None first, as the package does.
        first, rest = rng.choice([76, 60, 12, 3]), rng.randint(15, 80)
        expected = stock.header_encode_lines(text, iter([first, *[rest] * 500]))
        assert _UTF8_QP.header_encode_lines(text, iter([first, *[rest] * 500])) == expected
