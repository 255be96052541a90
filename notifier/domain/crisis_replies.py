"""Customers' replies to crisis messages: which incident a reply answers, and ops' digest.

During a crisis thousands of customers may answer the apology. A reply whose sender's
newest message from us (sent or delivered, not one to ops) is an incident's, while the
incident is open or within REPLY_WINDOW of its resolution, is that incident's: it is
recorded against it and reaches ops in the incident's next digest, one email every
NOTIFIER_CRISIS_DIGEST_EVERY, instead of as one email per reply. Any other reply is
forwarded alone (``ops_notices.inbound_reply_notice``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from notifier.domain.incidents import OPEN
from notifier.domain.models import ChannelName, CustomerId, IncidentStatus, JSONValue
from notifier.domain.notices import StandaloneNotice
from notifier.domain.ops_notices import CRISIS_REPLIES, ops_notice

# The resolution says "if you have questions, reply": answers to it are the incident's
# for a day; after that a reply is about something else and is forwarded alone.
REPLY_WINDOW = timedelta(hours=24)
LISTED = 200  # replies listed in one digest at most; the others are counted ("and N more")
TEXT_CHARS = 200  # characters of one listed reply; a longer one is cut with an ellipsis
# What the listed replies may take of the email, text and html parts together (each
# reply's text twice, escaped in html, its customer id twice and its line's own words):
# with the rest of the template a digest stays inside NOTIFIER_RENDER_MAX_OUTPUT's 64 KB.
LISTED_CHARS = 48_000
LINE_CHARS = 100  # a listed reply's time, channel, number and markup, in both parts
TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True, slots=True)
class LastMessage:
    """A customer's newest message from us that went out, and its incident, if any."""

    customer_id: CustomerId
    incident_id: int | None
    incident_status: IncidentStatus | None
    resolved_at: datetime | None


def answered_incident(last: LastMessage | None, now: datetime) -> int | None:
    """Return the incident a reply after ``last`` answers, or None (forward it alone)."""
    if last is None or last.incident_id is None or last.incident_status is None:
        return None
    if last.incident_status in OPEN:
        return last.incident_id
    resolved = last.incident_status is IncidentStatus.RESOLVED and last.resolved_at is not None
    if resolved and last.resolved_at is not None and now - last.resolved_at <= REPLY_WINDOW:
        return last.incident_id
    return None


@dataclass(frozen=True, slots=True)
class CrisisReply:
    """One customer's reply, recorded against the incident it answers.

    ``source`` names the webhook request (``twilio-inbound:<MessageSid>``): a replay
    records nothing twice. ``sender`` is the number masked, as the digest shows it.
    """

    incident_id: int
    customer_id: CustomerId
    channel: ChannelName
    sender: str
    text: str | None  # None once erased (forget, retention)
    source: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PendingReplies:
    """An incident's replies not yet in a digest, as the store read them.

    ``count`` replies up to the one numbered ``last_id`` go into digest ``digest``;
    ``oldest`` holds the first of them (at most LISTED), oldest first.
    """

    incident_id: int
    title: str
    status: IncidentStatus
    digest: int  # the number of the digest they go into (1 for the first)
    count: int
    last_id: int
    first_at: datetime
    last_at: datetime
    oldest: tuple[CrisisReply, ...]


def digest_key(incident_id: int, digest: int) -> str:
    """Return the key of an incident's ``digest``-th digest: it is written once."""
    return f"incident:{incident_id}:digest:{digest}"


def shortened(text: str | None, limit: int = TEXT_CHARS) -> str:
    """Return ``text`` on one line, cut at a word near ``limit`` characters with '…'."""
    if text is None:
        return "(erased)"
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit - 30:  # a word boundary close by reads better than a cut word
        cut = cut[:space]
    return cut.rstrip() + "…"


def listed(replies: tuple[CrisisReply, ...]) -> list[CrisisReply]:
    """Return the replies a digest lists: in order, at most LISTED and LISTED_CHARS."""
    out: list[CrisisReply] = []
    used = 0
    for reply in replies[:LISTED]:
        used += listed_size(reply)
        if used > LISTED_CHARS:
            break
        out.append(reply)
    return out


def listed_size(reply: CrisisReply) -> int:
    """Return about how many characters listing ``reply`` adds to a digest email."""
    text = shortened(reply.text)
    return len(text) + len(escape(text)) + 2 * len(reply.customer_id) + LINE_CHARS


def digest_notice(pending: PendingReplies, now: datetime, zone: ZoneInfo) -> StandaloneNotice:
    """Return the email to ops with ``pending``'s replies, times in ``zone``, oldest first."""
    shown = listed(pending.oldest)
    replies: list[JSONValue] = [
        {"customer": str(r.customer_id), "channel": r.channel, "sender": r.sender,
         "at": _local(r.at, zone), "text": shortened(r.text)}
        for r in shown
    ]  # fmt: skip
    data: dict[str, JSONValue] = {
        "incident": {"id": pending.incident_id, "title": pending.title,
                     "status": str(pending.status)},
        "digest": pending.digest, "count": pending.count, "replies": replies,
        "more": pending.count - len(shown), "timezone": zone.key,
        "first": _local(pending.first_at, zone), "last": _local(pending.last_at, zone),
    }  # fmt: skip
    reason = f"{pending.count} replies to incident {pending.incident_id}'s messages"
    key = digest_key(pending.incident_id, pending.digest)
    return ops_notice(CRISIS_REPLIES, key, now, reason, data)


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime(TIME_FORMAT)
