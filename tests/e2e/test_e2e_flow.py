"""``notifier run`` end to end, on SQLite and PostgreSQL: the API in, the providers out."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes, rows, scanned_at_or_after, settled_rows
from tests.e2e.daemon import Daemon, daytime_zone, wait_for
from tests.fakes.http_server import Failure

pytestmark = pytest.mark.e2e

PHONES = {"sms": "+5491155550101", "whatsapp": "+5491155550102", "fallback": "+15005550001",
          "retry": "+5491155550104"}  # fmt: skip


async def _customers(daemon: Daemon, zone: str) -> None:
    common: dict[str, Any] = {"name": "Ana Pérez", "locale": "es-AR", "timezone": zone}
    await daemon.customer("c-sms", last_used="sms", phone=PHONES["sms"],
                          email="c-sms@example.com", **common)  # fmt: skip
    await daemon.customer("c-mail", last_used="email", phone="+5491155550103",
                          email="c-mail@example.com", **common)  # fmt: skip
    # Free-form WhatsApp needs the customer's own message within the last 24 hours.
    await daemon.customer("c-wa", last_used="whatsapp", whatsapp=PHONES["whatsapp"],
                          at=datetime.now(UTC) - timedelta(hours=1),
                          email="c-wa@example.com", **common)  # fmt: skip
    await daemon.customer("c-x", last_used="x", x_user_id="424242",
                          email="c-x@example.com", **common)  # fmt: skip
    await daemon.customer("c-fallback", last_used="sms", phone=PHONES["fallback"],
                          email="c-fallback@example.com", **common)  # fmt: skip


async def test_late_promises_reach_each_customer_once_retried_or_fallen_back(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    now = datetime.now(UTC)
    daemon = await make_daemon(e2e_db).started()
    await _customers(daemon, daytime_zone(now))
    for cid in ("c-sms", "c-mail", "c-wa", "c-x", "c-fallback"):
        await daemon.promise(cid, f"order-{cid}", now - timedelta(hours=2))

    await wait_for(
        lambda: fakes.sms_to(PHONES["sms"]) and fakes.sms_to(f"whatsapp:{PHONES['whatsapp']}")
        and fakes.mail_to("c-mail@example.com") and fakes.x.sent
        and fakes.mail_to("c-fallback@example.com"),
        "every late promise's message",
    )  # fmt: skip

    # Moving on half an hour and scanning again sends nothing more.
    later = await daemon.advance("30m")
    await wait_for(lambda: scanned_at_or_after(e2e_db, later), "a scan after the clock moved")
    await daemon.advance("1m")  # and the dispatcher has looked at the outbox again since

    assert sorted(m["to"] for m in fakes.twilio.messages) == [
        PHONES["sms"], f"whatsapp:{PHONES['whatsapp']}"
    ]  # fmt: skip
    assert [m.rcpt_tos for m in fakes.smtp.received if "c-mail@example.com" in m.rcpt_tos] == [
        ["c-mail@example.com"]
    ]
    assert [d["participant_id"] for d in fakes.x.sent] == ["424242"]
    # The magic number is refused (21211) and the apology falls back to email, once.
    assert len(fakes.mail_to("c-fallback@example.com")) == 1
    assert len(fakes.smtp.received) == 2
    refused = [r for r in fakes.twilio.requests if b"15005550001" in r.body]
    assert len(refused) == 1

    found = await settled_rows(e2e_db, 5)
    assert Counter(r["dedupe_key"] for r in found).most_common(1)[0][1] == 1
    by_customer = {r["customer_id"]: r for r in found}
    assert {c: (r["status"], r["channel"]) for c, r in by_customer.items()} == {
        "c-sms": ("sent", "sms"), "c-mail": ("sent", "email"), "c-wa": ("sent", "whatsapp"),
        "c-x": ("sent", "x"), "c-fallback": ("sent", "email"),
    }  # fmt: skip
    assert by_customer["c-fallback"]["failed_channels"] == ["sms"]

    await _transient_error_is_retried(daemon, e2e_db, fakes)
    metrics = (await daemon.client.get("/metrics")).text
    assert 'outcome="sent"' in metrics and 'outcome="retry"' in metrics, metrics[:2000]
    assert await daemon.stop() == 0


async def _transient_error_is_retried(daemon: Daemon, url: str, fakes: Fakes) -> None:
    """A 503 from Twilio: the SMS goes again after the backoff and arrives once."""
    await daemon.customer("c-retry", last_used="sms", phone=PHONES["retry"],
                          timezone=daytime_zone(datetime.now(UTC)))  # fmt: skip
    fakes.twilio.failures.append(Failure(status=503, code=None, message="Service Unavailable"))
    requests = len(fakes.twilio.requests)
    await daemon.promise("c-retry", "order-retry", await daemon.advance("1s") - timedelta(hours=2))

    async def retried() -> list[dict[str, Any]]:
        found = [r for r in await rows(url) if r["customer_id"] == "c-retry"]
        return found if found and found[0]["error"] and found[0]["attempts"] == 1 else []

    await wait_for(retried, "the 503 to be recorded as a retry")
    assert fakes.sms_to(PHONES["retry"]) == []
    await daemon.advance("2m")  # past the backoff
    await wait_for(lambda: fakes.sms_to(PHONES["retry"]), "the retried SMS")

    (row,) = [r for r in await settled_rows(url, 6) if r["customer_id"] == "c-retry"]
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(fakes.twilio.requests) - requests == 2
    assert len(fakes.sms_to(PHONES["retry"])) == 1
