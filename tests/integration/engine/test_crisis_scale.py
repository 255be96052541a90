"""An incident over 10,000 affected customers with several promises each, both databases.

One apology per customer, exactly once, on their channel and in their language; none to
the customers outside the segment; every individual notice of an affected promise held
back; then one resolution to each customer told. Seeded through the ledger in batches,
as an import would.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from notifier.domain.incidents import Severity
from notifier.domain.ingest import CustomerData, InteractionData, PromiseData
from notifier.domain.models import CustomerId, Direction, Source
from notifier.engine.crisis.commands import Incidents
from notifier.engine.crisis.planner import plan_incidents
from notifier.engine.crisis.texts import Texts
from notifier.store.convert import notifications
from tests.integration.rig import Rig

AFFECTED = 10_000
OUTSIDE = 500
BATCH = 1_000
LOCALES = ("es", "es-AR", "en", "pt-BR")
# What each language's SMS and email open with: the customer's own language, never another.
SMS_OPENS = {"es": "Acme: perdón.", "en": "Acme: we're sorry.", "pt": "Acme: desculpe."}
SUBJECT = {"es": "te pedimos perdón", "en": "we're sorry", "pt": "Desculpe: um problema nosso"}


@pytest.fixture(autouse=True)
def _providers_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fan-out at the local servers' pace: the shipped rates (10 SMS/s) would make this
    # a quarter of an hour of waiting; the rate limits have their own tests and benchmark.
    for channel in ("SMS", "WHATSAPP", "EMAIL", "X"):
        monkeypatch.setenv(f"NOTIFIER_RATE_{channel}", "100000")


def _customer(i: int) -> tuple[str, str, str]:
    """Customer ``i``: id, locale, last used channel (7 in 10 by SMS, the rest by email)."""
    return f"s-{i:05d}", LOCALES[i % len(LOCALES)], "email" if i % 10 >= 7 else "sms"


async def _seed(rig: Rig) -> None:
    now = rig.clock.now()
    for start in range(0, AFFECTED + OUTSIDE, BATCH):
        people, touches, promises = [], [], []
        for i in range(start, min(start + BATCH, AFFECTED + OUTSIDE)):
            cid, locale, channel = _customer(i)
            people.append(CustomerData(CustomerId(cid), {
                "name": f"Cliente {i}", "locale": locale,
                "timezone": "America/Argentina/Buenos_Aires",
                "phone": f"+5491156{i:06d}", "email": f"{cid}@example.com",
            }))  # fmt: skip
            touches.append(
                InteractionData(
                    CustomerId(cid), channel, Direction.INBOUND, now - timedelta(days=2)
                )
            )
            carrier = "andreani" if i < AFFECTED else "oca"
            # Two or three each: one already late (its rule notice would go now), the rest due.
            for n in range(2 + i % 2):
                due = now + (timedelta(hours=-3) if n == 0 else timedelta(hours=4 + n))
                attrs = {"carrier": carrier, "order_id": f"{cid}-{n}"}
                promises.append(
                    PromiseData(CustomerId(cid), "delivery", due, f"{cid}-{n}", attributes=attrs)
                )
        await rig.ledger.put_customers(people)
        await rig.ledger.add_interactions(touches)
        await rig.ledger.put_promises(promises, Source.API)


def _inside(forms: list[dict[str, str]]) -> list[dict[str, str]]:
    """The SMS sent to the segment's customers."""
    return [f for f in forms if int(f["To"][-6:]) < AFFECTED]


async def _until_quiet(rig: Rig) -> None:
    """Daemon turns (scan, crisis planner, dispatch until idle) until nothing is claimed."""
    for _ in range(10):
        await rig.scan()
        await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
        if await rig.dispatcher.dispatch_until_idle() == 0:
            return
    raise AssertionError("the fan-out did not settle in 10 turns")


async def _crisis_rows(rig: Rig, message: str) -> Counter[tuple[str, str]]:
    """(customer, status) -> how many rows of ``message`` the incident has."""
    n = notifications
    async with rig.store.transaction() as conn:
        rows = await conn.execute(
            select(n.c.customer_id, n.c.status, func.count())
            .where(n.c.incident_id.is_not(None), n.c.message == message)
            .group_by(n.c.customer_id, n.c.status)
        )
        return Counter({(str(c), str(s)): int(k) for c, s, k in rows})


async def test_ten_thousand_customers_are_each_told_once_and_resolved_once(rig: Rig) -> None:
    await _seed(rig)
    service = Incidents(rig.store, rig.clock, rig.dispatcher.composer.renderer, "es", 2)
    iid = await service.open(
        titles=Texts("Paro de transportistas", ("en=Carrier strike",), "--title"),
        messages=Texts(None, (), "--message"), severity=Severity.MAJOR,
        match=["kind=delivery", "attributes.carrier=andreani"], estimate=None, by="ana",
    )  # fmt: skip
    await _until_quiet(rig)

    opened = await _crisis_rows(rig, "crisis_opened")
    expected = {(_customer(i)[0], "sent"): 1 for i in range(AFFECTED)}
    assert dict(opened) == expected
    # One message to each affected customer, at their own address, on their channel, in
    # their language; nothing to anyone outside the segment.
    # (Outside the segment, the rules' own notices go as usual.)
    sms = _inside(rig.twilio.forms())
    by_number = Counter(f["To"] for f in sms)
    texted = [i for i in range(AFFECTED) if _customer(i)[2] == "sms"]
    assert by_number == Counter({f"+5491156{i:06d}": 1 for i in texted})
    for form in sms:
        i = int(form["To"][-6:])
        assert form["Body"].startswith(SMS_OPENS[_customer(i)[1][:2]]), form["Body"]
    mails = [m for m in rig.smtp.received if int(m.rcpt_tos[0][2:7]) < AFFECTED]
    mailed = Counter(tuple(m.rcpt_tos) for m in mails)
    emailed = [i for i in range(AFFECTED) if _customer(i)[2] == "email"]
    assert mailed == Counter({(f"s-{i:05d}@example.com",): 1 for i in emailed})
    for m in mails[:200]:
        i = int(m.rcpt_tos[0][2:7])
        assert SUBJECT[_customer(i)[1][:2]] in str(m.parsed()["Subject"])
    # Every individual notice of an affected promise was held back for the incident, also
    # once the rules' own wait ("for: 15m") has passed.
    rig.clock.advance(timedelta(minutes=20))
    await _until_quiet(rig)
    n = notifications
    async with rig.store.transaction() as conn:
        individual = dict(
            (
                await conn.execute(
                    select(n.c.status, func.count())
                    .where(n.c.incident_id.is_(None), n.c.message.not_like("ops_%"))
                    .where(n.c.customer_id < f"s-{AFFECTED:05d}")
                    .group_by(n.c.status)
                )
            ).all()
        )
    assert individual and set(individual) == {"suppressed"}, individual
    assert await rig.store.incident_counts(iid, rig.clock.now()) is not None

    sent_before = len(sms) + len(mails)
    await service.resolve(iid, messages=Texts("Los envíos se normalizaron."), by="ana")
    await _until_quiet(rig)
    resolved = await _crisis_rows(rig, "crisis_resolved")
    assert dict(resolved) == expected
    mails = [m for m in rig.smtp.received if int(m.rcpt_tos[0][2:7]) < AFFECTED]
    assert len(_inside(rig.twilio.forms())) + len(mails) == 2 * sent_before
    assert Counter(f["To"] for f in _inside(rig.twilio.forms())) == Counter(
        {f"+5491156{i:06d}": 2 for i in texted}
    )
