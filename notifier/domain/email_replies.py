"""A customer's email reply, as notifier reads it: who sent it, what it answers, what it says.

Mail clients quote the message being answered below (or above) the reply, add an
"On <date>, <name> wrote:" line and a signature. Ops want the customer's words only, so
the text kept is the reply with those taken off, cut at REPLY_CHARS like a long SMS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

# An SMS reply is at most 1600 characters (Twilio's limit for one inbound message): an
# email reply is kept to the same, so that a digest or a forward reads the same either way.
REPLY_CHARS = 1600


@dataclass(frozen=True, slots=True)
class InboundEmail:
    """One email a customer sent us, parsed.

    ``references`` are the ids of the messages it answers, In-Reply-To's first (then
    References', newest first), angle brackets included as our Message-IDs have them.
    ``auto`` says it is an automatic answer (RFC 3834 ``Auto-Submitted``, out-of-office).
    """

    message_id: str | None
    sender: str  # the From address, as written
    references: tuple[str, ...]
    text: str
    auto: bool
    fingerprint: str  # a digest of the raw message: its key when it has no Message-ID


# "On Tue, 24 Nov 2026 at 12:03, Acme <avisos@acme.example> wrote:", and the same in
# Spanish and Portuguese (Gmail, Apple Mail, Thunderbird); Gmail may wrap it over two lines.
_ATTRIBUTION = re.compile(
    r"^\s*(on|el|em|le|am)\b.{0,300}?\b(wrote|escribió|escreveu|a écrit|schrieb)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
# Outlook's header block above the quoted message, and the older "Original Message" rule.
_OUTLOOK = re.compile(
    r"^\s*(-{2,}\s*(original message|mensaje original|mensagem original)\s*-{2,}"
    r"|_{10,}\s*$|(from|de)\s*:\s.*@)",
    re.IGNORECASE,
)


def reply_text(body: str) -> str:
    """Return the customer's own words in ``body``: quoted lines, the attribution line
    before them, a quoted block Outlook-style and the signature after ``-- `` removed."""
    # PostgreSQL text cannot hold U+0000: it is kept as U+FFFD, as in a Twilio form.
    body = body.replace("\x00", "\ufffd")
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if line.rstrip() == "--" and line.startswith("--"):  # "-- " opens the signature
            break
        if _OUTLOOK.match(line) and _rest_is_quote(lines[i + 1 :]):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    kept = _without_attribution(kept)
    text = "\n".join(kept)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return bounded(text)


def _rest_is_quote(rest: list[str]) -> bool:
    # Outlook's "From: ..." opens a block only when headers follow it, not in a sentence.
    return any(re.match(r"^\s*(sent|enviado|date|fecha|data|to|para)\s*:", r, re.I)
               for r in rest[:4])  # fmt: skip


def _without_attribution(lines: list[str]) -> list[str]:
    """Drop "On ... wrote:" lines (also when wrapped over two lines) anywhere."""
    out: list[str] = []
    for line in lines:
        if _ATTRIBUTION.match(line):
            continue
        if out and _ATTRIBUTION.match(out[-1] + " " + line) and out[-1].strip():
            out.pop()
            continue
        out.append(line)
    return out


def bounded(text: str, limit: int = REPLY_CHARS) -> str:
    """Return ``text`` cut to ``limit`` characters, a cut one ending in '…'."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul",
           "ol", "pre", "hr"}  # fmt: skip
_HIDDEN = {"style", "script", "head", "title"}


class _Text(HTMLParser):
    """Text of an HTML body: block elements end lines, quoted blocks are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.quoted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "blockquote":
            self.quoted += 1
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "blockquote":
            self.quoted = max(0, self.quoted - 1)
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden and not self.quoted:
            self.parts.append(data)


def html_text(html: str) -> str:
    """Return the readable text of an HTML body, quoted blocks (``<blockquote>``) left out."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
