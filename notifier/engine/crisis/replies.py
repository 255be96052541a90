"""The digest of customers' replies to crisis messages: one email to ops per incident.

The daemon runs it every NOTIFIER_CRISIS_DIGEST_EVERY on one replica (``claim_tick``);
each incident with replies no digest took yet gets one ``ops_crisis_replies`` email
listing them, written exactly once even when two runs meet (``store/incident_replies.py``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import structlog

from notifier.config import DigestSettings
from notifier.domain.crisis_replies import LISTED, digest_notice
from notifier.domain.errors import one_line
from notifier.engine.crisis.ports import ReplyDigestStore

log = structlog.get_logger("notifier.crisis")


async def send_digests(store: ReplyDigestStore, now: datetime, settings: DigestSettings) -> int:
    """Put one digest per incident with new replies in the outbox; return how many.

    Times in the digests are in NOTIFIER_DEFAULT_TIMEZONE. One incident failing stays
    alone: its replies wait for the next run.
    """
    zone = ZoneInfo(settings.default_timezone)
    written = 0
    for incident_id in await store.incidents_with_new_replies():
        try:
            pending = await store.new_replies(incident_id, LISTED)
            if pending is None:
                continue
            if not await store.write_digest(pending, digest_notice(pending, now, zone), now):
                log.info("crisis.digest_taken", incident_id=incident_id, digest=pending.digest)
                continue
        except Exception as exc:
            log.error("crisis.digest_failed", incident_id=incident_id, error=one_line(exc))
            continue
        written += 1
        log.info("crisis.digest", incident_id=incident_id, digest=pending.digest,
                 replies=pending.count)  # fmt: skip
    return written
