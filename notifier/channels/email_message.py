"""The MIME message an email notification becomes: multipart text + HTML, RFC 8058 headers."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from notifier.channels.base import OutboundMessage


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
) -> EmailMessage:
    """Return the email for ``message``; non-ASCII names and subjects are RFC 2047 encoded.

    Raises ValueError when ``message.to`` is not a single plain mailbox.
    """
    if not is_mailbox(message.to):
        raise ValueError("not a single mailbox")
    email = EmailMessage()
    email["From"] = email_from
    email["To"] = _recipient(message.to, message.to_name)
    if reply_to:
        email["Reply-To"] = reply_to
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id(message.dedupe_key, email_from)
    if message.unsubscribe_url:
        # RFC 8058: a mail client may POST "List-Unsubscribe=One-Click" to the URL.
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps every line 7-bit: no relay needs 8BITMIME to pass it on.
    email.set_content(message.text, charset="utf-8", cte="quoted-printable")
    if message.html:
        email.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return email


def _recipient(to: str, name: str | None) -> Address | str:
    if not name:
        return to
    username, _, domain = to.rpartition("@")
    return Address(display_name=name, username=username, domain=domain)
