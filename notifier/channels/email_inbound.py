"""Inbound email as the providers post it: a raw RFC 5322 message, or SendGrid's form.

Mailgun ("store and notify", raw MIME), Postmark (raw) and an MTA piping through curl post
the message itself; SendGrid Inbound Parse with "POST the raw, full MIME message" posts a
``multipart/form-data`` form whose ``email`` field holds it, and Mailgun's forward() to a
URL ending in ``mime`` a form with it in ``body-mime``. Either way the message is
read here into an ``InboundEmail``; what cannot be read raises InvalidInputError naming why.
"""

from __future__ import annotations

import hashlib
import re
from email import policy
from email.errors import MessageDefect
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from urllib.parse import parse_qs

from notifier.channels.email_message import is_mailbox
from notifier.domain.email_replies import InboundEmail, html_text, reply_text
from notifier.domain.errors import InvalidInputError

_IDS = re.compile(r"<[^<>\s\x00]+>")
_PARSER = BytesParser(policy=policy.default)
# A message whose structure the parser had to guess at cannot be trusted to say who wrote it.
_FATAL = ("StartBoundaryNotFoundDefect", "MultipartInvariantViolationDefect")


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# SendGrid Inbound Parse ("POST the raw, full MIME message"), Mailgun's forward() to a URL
# ending in "mime".
RAW_FIELDS = ("email", "body-mime")


def form_field(content_type: str, body: bytes, name: str) -> bytes | None:
    """Return the bytes of form field ``name`` in a form body (multipart or urlencoded), as
    sent, or None without one.

    Read as bytes rather than as text: a raw message in a charset other than UTF-8 must
    reach the MIME parser byte for byte.
    """
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        # Latin-1 both ways maps every byte, escaped or not, to itself.
        fields = parse_qs(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
        found = fields.get(name)
        return found[0].encode("latin-1") if found else None
    form = _PARSER.parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
                              + body)  # fmt: skip
    if not form.is_multipart():
        raise InvalidInputError("body", "not a multipart/form-data body with a boundary")
    for part in form.iter_parts():
        if part.get_param("name", header="content-disposition") != name:
            continue
        if part.is_multipart():  # a part declared message/rfc822 is parsed already
            return part.as_bytes()
        payload = part.get_payload(decode=True)
        return payload if isinstance(payload, bytes) else b""
    return None


def parse_reply(raw: bytes) -> InboundEmail:
    """Return the email in ``raw`` (RFC 5322), or raise InvalidInputError saying what is wrong."""
    if not raw.strip():
        raise InvalidInputError("message", "empty: expected an RFC 5322 message")
    try:
        mail = _PARSER.parsebytes(raw)
    except (ValueError, TypeError, LookupError) as exc:  # the parser is lenient; not always
        raise InvalidInputError("message", f"not an RFC 5322 message ({exc})") from None
    assert isinstance(mail, EmailMessage)
    no_headers = any(type(d).__name__ == "MissingHeaderBodySeparatorDefect" for d in mail.defects)
    if not mail.keys() or no_headers:
        raise InvalidInputError("message", "no header section: expected an RFC 5322 message")
    for defect in _defects(mail):
        if type(defect).__name__ in _FATAL:
            raise InvalidInputError("message", f"broken MIME structure ({type(defect).__name__})")
    sender = _sender(mail)
    message_id = _ids(mail, "Message-ID")
    refs = list(dict.fromkeys([*_ids(mail, "In-Reply-To"), *reversed(_ids(mail, "References"))]))
    return InboundEmail(
        message_id=message_id[0] if message_id else None,
        sender=sender,
        references=tuple(refs),
        text=_text(mail),
        auto=_is_automatic(mail),
        fingerprint=hashlib.sha256(raw).hexdigest(),
    )


def _sender(mail: Message) -> str:
    values = mail.get_all("From") or []
    if not values:
        raise InvalidInputError("From", "missing: no sender to match")
    try:
        found = [a for _, a in getaddresses([str(v) for v in values]) if a]
    except (ValueError, IndexError):
        found = []
    if len(found) != 1 or not is_mailbox(found[0]):
        raise InvalidInputError("From", "not one mailbox address")
    return found[0]


def _ids(mail: Message, name: str) -> list[str]:
    try:
        values = [str(v) for v in mail.get_all(name) or []]
    except (ValueError, IndexError):  # a header the parser cannot make sense of names nobody
        return []
    return [m for value in values for m in _IDS.findall(value)][:50]


def _is_automatic(mail: Message) -> bool:
    auto = str(mail.get("Auto-Submitted") or "no").strip().lower()
    precedence = str(mail.get("Precedence") or "").strip().lower()
    return auto != "no" or precedence in ("auto_reply", "bulk", "junk") or "X-Autoreply" in mail


def _text(mail: EmailMessage) -> str:
    """Return the reply's words: the plain part, else the HTML one as text, quotes off."""
    plain = mail.get_body(preferencelist=("plain",))
    if plain is not None:
        return reply_text(_content(plain))
    rich = mail.get_body(preferencelist=("html",))
    if rich is not None:
        return reply_text(html_text(_content(rich)))
    return ""


def _content(part: Message) -> str:
    # A charset Python does not know, or bytes that break the declared one, still read.
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _defects(mail: Message) -> list[MessageDefect]:
    return [d for part in mail.walk() for d in part.defects]
