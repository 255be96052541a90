"""Notices to ops about no one customer: a channel found down, a customer's reply forwarded,
the digest of the replies to an incident's messages (``crisis_replies.py``).

They go through the outbox like any other notice (routed to NOTIFIER_OPS_EMAIL,
rendered from the ``ops_*`` templates, rate-limited, retried, in the history); their
template reads the values here as ``ops``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from notifier.domain.detection import Detection, describe_share
from notifier.domain.models import ChannelName, Customer, JSONValue
from notifier.domain.notices import StandaloneNotice

OPS_PREFIX = "ops_"  # a template folder named so holds a message to ops
CHANNEL_DOWN = "ops_channel_down"
INBOUND_REPLY = "ops_inbound_reply"
LOOKUP_GAVE_UP = "ops_lookup_failed"
CRISIS_REPLIES = "ops_crisis_replies"
CRISIS_DETECTED = "ops_crisis_detected"
OPS_MESSAGES = (
    CHANNEL_DOWN,
    INBOUND_REPLY,
    LOOKUP_GAVE_UP,
    CRISIS_REPLIES,
    CRISIS_DETECTED,
)  # every one must have an email template


def channel_down_key(channel: ChannelName, stamp: datetime) -> str:
    """Return the key of the alert that ``channel`` went down at ``stamp`` (to the second)."""
    return f"ops:channel-down:{channel}:{stamp:%Y%m%dT%H%M%S}"


def inbound_key(message_id: str) -> str:
    """Return the key of a customer's text forwarded to ops: a replayed webhook has the same."""
    return f"ops:inbound:{message_id}"


def ops_notice(
    message: str, key: str, now: datetime, reason: str, data: Mapping[str, JSONValue]
) -> StandaloneNotice:
    """Return an email to ops (NOTIFIER_OPS_EMAIL) about no one customer, due ``now``."""
    return StandaloneNotice(
        dedupe_key=key, message=message, audience="ops", channel="email", not_before=now,
        reason=reason, stage="ops", priority="high", data=data,
    )  # fmt: skip


def channel_down_notice(
    channel: ChannelName, reason: str, now: datetime, until: datetime
) -> StandaloneNotice:
    """Return the alert that ``channel`` is paused for everyone until ``until``, and why."""
    data: dict[str, JSONValue] = {"channel": channel, "reason": reason, "until": until.isoformat()}
    why = f"the {channel} channel is down: {reason}"
    return ops_notice(CHANNEL_DOWN, channel_down_key(channel, now), now, why, data)


def inbound_reply_notice(
    channel: ChannelName,
    number: str,
    text: str,
    customers: Sequence[Customer],
    message_id: str,
    now: datetime,
) -> StandaloneNotice:
    """Return a customer's text that no automatic answer fits, for ops to answer by hand.

    ``message_id`` is the provider's id (its replay is the same notice); without one each
    text is its own.
    """
    key = inbound_key(message_id or f"{number}:{now:%Y%m%dT%H%M%S.%f}")
    named: list[JSONValue] = [{"id": c.id, "name": c.name} for c in customers]
    data: dict[str, JSONValue] = {
        "channel": channel, "number": number, "text": text, "customers": named,
    }  # fmt: skip
    reason = f"a reply on {channel} that no automatic answer fits"
    return ops_notice(INBOUND_REPLY, key, now, reason, data)


def lookup_failed_notice(
    channel: ChannelName, ids: Sequence[int], tries: int, error: str, now: datetime
) -> StandaloneNotice:
    """Return the alert that ``ids`` are ``unknown``: ``tries`` lookups at the provider failed.

    Whether the customer got them nobody can tell; ops decide (``notifier notifications``).
    """
    data: dict[str, JSONValue] = {
        "channel": channel, "ids": list(ids), "tries": tries, "error": error,
    }  # fmt: skip
    key = f"ops:lookup-failed:{channel}:{now:%Y%m%dT%H%M%S}:{min(ids)}"
    why = f"{len(ids)} {channel} notification(s) unknown: the lookup failed {tries} times"
    return ops_notice(LOOKUP_GAVE_UP, key, now, why, data)


def crisis_detected_notice(
    detection: Detection, title: str, awaiting: bool, now: datetime
) -> StandaloneNotice:
    """Return the email telling ops a crisis rule proposed an incident, with its numbers.

    It names the command that confirms it: nobody is told until then (unless the rule
    says ``notify_customers: immediately``, and then it says the playbook has started).
    """
    n = detection.numbers
    iid = detection.incident_id
    data: dict[str, JSONValue] = {
        "incident_id": iid, "title": title, "rule": detection.rule_id,
        "group": detection.describe_group(), "broken": n.broken, "due": n.due,
        "share": describe_share(n.share), "baseline": round(n.baseline, 1),
        "examples": [e.ref for e in detection.examples], "awaiting": awaiting,
        "confirm": f"notifier incident confirm {iid}",
        "dismiss": f"notifier incident dismiss {iid}",
    }  # fmt: skip
    why = f"crisis rule '{detection.rule_id}' proposed incident {iid}"
    key = f"ops:crisis-detected:{iid}:{detection.id}"
    return ops_notice(CRISIS_DETECTED, key, now, why, data)
