"""The MIME message an email notification becomes: multipart text + HTML, RFC 8058 headers."""

from __future__ import annotations

import hashlib
import random
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from email.charset import QP, RFC2047_CHROME_LEN, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import compat32
from email.quoprimime import header_length
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

from notifier.channels.base import OutboundMessage

# Header lines the email package would fold anyway (or refuse) take its own path: a long
# or multi-line value, a control character, anything not ASCII.
_FOLD_ABOVE = 900
_WIRE = compat32.clone(linesep="\r\n", max_line_length=998)
_LINE_END = re.compile(r"\r\n|\r|\n")


class _Utf8Qp(Charset):
    """UTF-8 with quoted-printable bodies and headers, so every line stays 7-bit.

    The email package fits an encoded word to its line by re-encoding the whole prefix at
    every character (quadratic: ~150 us for one subject); a character's Q-encoded length
    does not depend on its neighbours, so the same split is found in one pass.
    """

    def __init__(self) -> None:
        super().__init__("utf-8")
        self.header_encoding = QP
        self.body_encoding = QP

    def header_encode_lines(self, string: str, maxlengths: Iterator[int]) -> list[str | None]:
        """Return the encoded words ``string`` splits into, as Charset.header_encode_lines."""
        extra = len("utf-8") + RFC2047_CHROME_LEN
        lines: list[str | None] = []
        start, length, maxlen = 0, 0, next(maxlengths) - extra
        for i, character in enumerate(string):
            size = _q_length(character)
            if length + size > maxlen:
                if not lines and i == start:
                    lines.append(None)  # nothing fits on the first line
                else:
                    lines.append(self.header_encode(string[start:i]))
                start, length, maxlen = i, 0, next(maxlengths) - extra
            length += size
        lines.append(self.header_encode(string[start:]))
        return lines


@lru_cache(maxsize=4096)
def _q_length(character: str) -> int:
    return header_length(character.encode())


_UTF8_QP = _Utf8Qp()


def message_id(dedupe_key: str, email_from: str) -> str:
    """Return the Message-ID for a dedupe key: the same key gives the same id, on purpose."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return f"<{digest}@{sender_domain(email_from)}>"


@lru_cache(maxsize=16)
def sender_domain(email_from: str) -> str:
    """Return the domain of the From address (``localhost`` when it has none)."""
    return envelope_sender(email_from).rpartition("@")[2] or "localhost"


@lru_cache(maxsize=16)
def envelope_sender(email_from: str) -> str:
    """Return the bare address of a From header value, for MAIL FROM."""
    return parseaddr(email_from)[1] or email_from


def is_mailbox(address: str) -> bool:
    """True when ``address`` looks like one plain mailbox (local@domain) and nothing more."""
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or "@" in local.strip('"'):
        return False
    return not any(c.isspace() or c in "<>,;()[]\\" or ord(c) < 32 for c in address)


def build_email(
    message: OutboundMessage, email_from: str, reply_to: str | None, now: datetime
) -> bytes | EmailMessage:
    """Return the email for ``message``: what goes after DATA, or (an internationalized
    address) an EmailMessage for aiosmtplib to send with SMTPUTF8.

    Non-ASCII names and subjects are RFC 2047 encoded. Raises ValueError when
    ``message.to`` is not a single plain mailbox.
    """
    if not is_mailbox(message.to):
        raise ValueError("not a single mailbox")
    if not message.to.isascii():
        return _build_smtputf8(message, email_from, reply_to, now)
    headers = [
        ("From", _address(email_from)),
        ("To", formataddr((_one_line(message.to_name or ""), message.to), charset=_UTF8_QP)),
    ]
    if reply_to:
        headers.append(("Reply-To", _address(reply_to)))
    headers.append(("Subject", _text_header(message.subject or "")))
    headers.extend(_common_headers(message, email_from, now))
    return wire_bytes(headers, message.text, message.html)


def _common_headers(
    message: OutboundMessage, email_from: str, now: datetime
) -> list[tuple[str, str]]:
    headers = [
        ("Date", format_datetime(now)),
        ("Message-ID", message_id(message.dedupe_key, email_from)),
    ]
    if message.unsubscribe_url:
        # RFC 8058: a mail client may POST "List-Unsubscribe=One-Click" to the URL.
        headers.append(("List-Unsubscribe", f"<{message.unsubscribe_url}>"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    headers.append(("Auto-Submitted", "auto-generated"))
    return headers


def _build_smtputf8(
    message: OutboundMessage, email_from: str, reply_to: str | None, now: datetime
) -> EmailMessage:
    # An internationalized address goes out with SMTPUTF8: the email package writes it.
    email = EmailMessage()
    email["From"] = email_from
    email["To"] = _recipient(message.to, message.to_name)
    if reply_to:
        email["Reply-To"] = reply_to
    email["Subject"] = message.subject or ""
    for name, value in _common_headers(message, email_from, now):
        email[name] = value
    # Quoted-printable keeps every line 7-bit: no relay needs 8BITMIME to pass it on.
    email.set_content(message.text, charset="utf-8", cte="quoted-printable")
    if message.html:
        email.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return email


def wire_bytes(headers: list[tuple[str, str]], text: str, html: str | None) -> bytes:
    """Return the message as the email package's compat32 classes and BytesGenerator
    would write it (CRLF line ends, no ">From " mangling, no folding short of 998 octets),
    written directly: the generic writer re-parsed every header of every message.

    ``text`` and ``html`` are quoted-printable UTF-8 parts; with ``html`` they make a
    multipart/alternative. tests/unit/test_email_wire.py holds the email package's
    version and checks the two agree byte for byte.
    """
    head = "".join(_header_line(name, value) for name, value in headers)
    plain = _part("plain", text)
    if not html:
        return (plain[0] + head + "\r\n" + plain[1]).encode("ascii")
    # Quoted-printable parts never hold "==" (a literal "=" is written "=3D"), so no line
    # of theirs can be this delimiter: the email package's search for one is not needed.
    boundary = f"==============={random.randrange(sys.maxsize):019d}=="
    rich = _part("html", html)
    return "".join([
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n',
        "MIME-Version: 1.0\r\n", head, "\r\n",
        f"--{boundary}\r\n", plain[0], "\r\n", plain[1],
        f"\r\n--{boundary}\r\n", rich[0], "\r\n", rich[1],
        f"\r\n--{boundary}--\r\n",
    ]).encode("ascii")  # fmt: skip


def _header_line(name: str, value: str) -> str:
    # A short one-line printable ASCII value is written as is by compat32 too.
    if len(value) <= _FOLD_ABOVE and value.isascii() and value.isprintable():
        return f"{name}: {value}\r\n"
    return _WIRE.fold_binary(name, value).decode("ascii")


def _part(subtype: str, text: str) -> tuple[str, str]:
    # Like EmailMessage.set_content, the text ends with a line end.
    body = _UTF8_QP.body_encode((text if text.endswith("\n") else text + "\n").encode())
    head = (
        "MIME-Version: 1.0\r\n"
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n"
    )
    return head, "\r\n".join(_LINE_END.split(body))


def _one_line(text: str) -> str:
    # A line end inside a header value would start a header of its own.
    return " ".join(text.split())


def _text_header(text: str) -> str:
    text = _one_line(text)
    return text if text.isascii() else Header(text, _UTF8_QP).encode()


@lru_cache(maxsize=16)
def _address(value: str) -> str:
    name, address = parseaddr(value)
    if not address or value.isascii():
        return _one_line(value)
    return formataddr((_one_line(name), address), charset=_UTF8_QP)


def _recipient(to: str, name: str | None) -> Address | str:
    if not name:
        return to
    username, _, domain = to.rpartition("@")
    return Address(display_name=name, username=username, domain=domain)
