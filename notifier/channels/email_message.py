"""The MIME message an email notification becomes: multipart text + HTML, RFC 8058 headers."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr

from notifier.channels.base import OutboundMessage

# Quoted-printable bodies and headers keep every line 7-bit: no relay needs 8BITMIME.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.header_encoding = QP
_UTF8_QP.body_encoding = QP
_WIRE = compat32.clone(linesep="\r\n", max_line_length=998)


def message_id(dedupe_key: str, email_from: str) -> str:
    """Return the Message-ID for a dedupe key: the same key gives the same id, on purpose."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return f"<{digest}@{sender_domain(email_from)}>"


def sender_domain(email_from: str) -> str:
    """Return the domain of the From address (``localhost`` when it has none)."""
    address = parseaddr(email_from)[1] or email_from
    return address.rpartition("@")[2] or "localhost"


def is_mailbox(address: str) -> bool:
    """True when ``address`` looks like one plain mailbox (local@domain) and nothing more."""
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or "@" in local.strip('"'):
        return False
    return not any(c.isspace() or c in "<>,;()[]\\" or ord(c) < 32 for c in address)


def build_email(
    message: OutboundMessage, email_from: str, reply_to: str | None, now: datetime
) -> Message:
    """Return the email for ``message``; non-ASCII names and subjects are RFC 2047 encoded.

    Raises ValueError when ``message.to`` is not a single plain mailbox.
    """
    if not is_mailbox(message.to):
        raise ValueError("not a single mailbox")
    if not message.to.isascii():
        return _build_smtputf8(message, email_from, reply_to, now)
    # The compat32 classes: the same message as EmailMessage builds, at a third of the
    # cost (no header parsing on every assignment), which counted at hundreds a second.
    email: Message = _part(message.text, "plain")
    if message.html:
        email = MIMEMultipart("alternative", _subparts=[email, _part(message.html, "html")])
    email["From"] = _address(email_from)
    email["To"] = formataddr((_one_line(message.to_name or ""), message.to), charset=_UTF8_QP)
    if reply_to:
        email["Reply-To"] = _address(reply_to)
    email["Subject"] = _text_header(message.subject or "")
    _common_headers(email, message, email_from, now)
    return email


def _common_headers(
    email: Message, message: OutboundMessage, email_from: str, now: datetime
) -> None:
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id(message.dedupe_key, email_from)
    if message.unsubscribe_url:
        # RFC 8058: a mail client may POST "List-Unsubscribe=One-Click" to the URL.
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email["Auto-Submitted"] = "auto-generated"


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
    _common_headers(email, message, email_from, now)
    # Quoted-printable keeps every line 7-bit: no relay needs 8BITMIME to pass it on.
    email.set_content(message.text, charset="utf-8", cte="quoted-printable")
    if message.html:
        email.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return email


def wire_bytes(email: Message) -> bytes:
    """Return what goes after DATA for a message build_email made with the compat32 classes.

    CRLF line ends, no ">From " mangling, and no folding short of the 998-octet limit
    (compat32 would break ``List-Unsubscribe: <url>`` after the colon at 78).
    """
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_WIRE).flatten(email)
    return out.getvalue()


def _part(text: str, subtype: str) -> MIMENonMultipart:
    # Like EmailMessage.set_content, the text ends with a line end.
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text if text.endswith("\n") else text + "\n", _UTF8_QP)
    return part


def _one_line(text: str) -> str:
    # A line end inside a header value would start a header of its own.
    return " ".join(text.split())


def _text_header(text: str) -> str:
    text = _one_line(text)
    return text if text.isascii() else Header(text, _UTF8_QP).encode()


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
