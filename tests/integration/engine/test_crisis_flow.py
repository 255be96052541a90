"""The crisis playbook on a real store with the shipped rules and templates, both databases.

One apology per customer however many promises, on their channel; inhibition of the
individual notices and their release; latest-wins; customers affected after the opening;
the resolution contract under quiet hours and the cap; skipped customers; the kill switch.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifier.domain.incidents import Severity
from notifier.engine.crisis.commands import Incidents
from notifier.engine.crisis.planner import plan_incidents
from notifier.engine.crisis.texts import Texts
from notifier.store.store import Store
from tests.integration.poison import notification_rows
from tests.integration.rig import Rig


def _service(rig: Rig) -> Incidents:
    renderer = rig.dispatcher.composer.renderer
    return Incidents(rig.store, rig.clock, renderer, "es", 2)


async def _plan(rig: Rig) -> int:
    return await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)


async def _open(rig: Rig, *match: str, severity: Severity = Severity.MAJOR, **kw: object) -> int:
    return await _service(rig).open(
        titles=Texts("Paro de transportistas", (), "--title"),
        messages=Texts(kw.pop("message", None), (), "--message"),  # type: ignore[arg-type]
        severity=severity, match=list(match), estimate=None, by="ana",
    )  # fmt: skip


async def _crisis(store: Store, cid: str) -> list[tuple[int, str, str]]:
    rows = await notification_rows(store, cid)
    return [(r["step"], r["message"], r["status"]) for r in rows if r["incident_id"] is not None]


async def _individual(store: Store, cid: str) -> list[tuple[str, str, str | None]]:
    rows = await notification_rows(store, cid)
    return [(r["message"], r["status"], r["error_code"]) for r in rows if r["incident_id"] is None]


async def _round(rig: Rig) -> None:
    """One tick of the daemon: the scan, the crisis planner, the dispatch until idle."""
    await rig.scan()
    await _plan(rig)
    await rig.dispatcher.dispatch_until_idle()


async def _segment_of_three(rig: Rig) -> None:
    await rig.customer("c-1")  # two affected promises, by SMS
    await rig.promise("c-1", "A-1", timedelta(hours=5), carrier="andreani")
    await rig.promise("c-1", "A-2", timedelta(hours=6), carrier="andreani")
    await rig.customer("c-2", last_used="email", phone=None)  # one, by email
    await rig.promise("c-2", "A-3", timedelta(hours=5), carrier="andreani")
    await rig.customer("c-3", phone="+5491155550103")  # another carrier: untouched
    await rig.promise("c-3", "O-1", timedelta(hours=5), carrier="oca")


async def test_one_apology_per_customer_on_their_channel_listing_every_promise(rig: Rig) -> None:
    await _segment_of_three(rig)
    await _open(rig, "kind=delivery", "attributes.carrier=andreani")
    await _round(rig)
    await _round(rig)  # a second look plans nothing twice
    assert await _crisis(rig.store, "c-1") == [(0, "crisis_opened", "sent")]
    assert await _crisis(rig.store, "c-2") == [(0, "crisis_opened", "sent")]
    assert await _crisis(rig.store, "c-3") == []
    sms = rig.twilio.forms()
    assert [f["To"] for f in sms] == ["+5491155550101"]
    assert "A-1" in sms[0]["Body"] or "A-2" in sms[0]["Body"] or "Paro" in sms[0]["Body"]
    assert len(rig.smtp.received) == 1


async def test_individual_notices_are_held_while_open_and_the_rules_resume_after(
    rig: Rig,
) -> None:
    await _segment_of_three(rig)
    iid = await _open(rig, "attributes.carrier=andreani")
    await _round(rig)
    rig.clock.advance(timedelta(hours=7))  # every promise is late now
    await _round(rig)
    muted = await _individual(rig.store, "c-1")
    assert muted and all(s == "suppressed" and c == "muted_by_incident" for _, s, c in muted)
    assert [s for _, s, _ in await _individual(rig.store, "c-3")] == ["sent"]  # outside
    await _service(rig).resolve(iid, messages=Texts(None), by="ana")
    await _round(rig)
    assert [m for _, m, s in await _crisis(rig.store, "c-1") if s == "sent"] == [
        "crisis_opened", "crisis_resolved",
    ]  # fmt: skip
    # The notice the crisis covered is not repeated; the next stage fires in its time.
    rig.clock.advance(timedelta(days=2))
    await _round(rig)
    after = [m for m, s, _ in await _individual(rig.store, "c-1") if s == "sent"]
    assert after and "delivery_late" not in after


async def test_latest_wins_and_late_joiners_get_the_opening_as_things_stand(rig: Rig) -> None:
    await _segment_of_three(rig)
    iid = await _open(rig, "attributes.carrier=andreani")
    await _plan(rig)  # planned, not sent yet
    service = _service(rig)
    await service.update(iid, messages=Texts("Update 1"), status=None, estimate=None, by="ana")
    await service.update(iid, messages=Texts("Update 2"), status="identified", estimate=None,
                         by="ana")  # fmt: skip
    await _round(rig)
    assert [r for r in await _crisis(rig.store, "c-2") if r[2] == "sent"] == [
        (2, "crisis_opened", "sent")
    ]
    # A promise matching the segment after the opening: its customer joins at the latest.
    await rig.customer("c-4", last_used="email", phone=None)
    await rig.promise("c-4", "A-9", timedelta(hours=5), carrier="andreani")
    rig.clock.advance(timedelta(minutes=1))
    await _round(rig)
    assert [r for r in await _crisis(rig.store, "c-4") if r[2] == "sent"] == [
        (2, "crisis_opened", "sent")
    ]
    # An update without a new estimate goes by email and X, not by SMS.
    await service.update(iid, messages=Texts("Update 3"), status=None, estimate=None, by="ana")
    await _round(rig)
    assert (3, "crisis_update", "sent") in await _crisis(rig.store, "c-2")
    assert (3, "crisis_update", "cancelled") in await _crisis(rig.store, "c-1")
    # A new estimate goes everywhere.
    await service.update(iid, messages=Texts(None), status=None, estimate="now+2d", by="ana")
    await _round(rig)
    assert (4, "crisis_update", "sent") in await _crisis(rig.store, "c-1")
    # Each opening is worded with the latest account: c-2's reads update 2, not the first.
    assert "Update 2" in _email_to(rig, "c-2@example.com")[0]
    # A customer joining after an update that brought no text reads the latest one written.
    await rig.customer("c-5", last_used="email", phone=None)
    await rig.promise("c-5", "A-10", timedelta(hours=5), carrier="andreani")
    rig.clock.advance(timedelta(minutes=1))
    await _round(rig)
    assert await _crisis(rig.store, "c-5") == [(4, "crisis_opened", "sent")]
    [opening] = _email_to(rig, "c-5@example.com")
    assert "Update 3" in opening and "Update 2" not in opening


def _email_to(rig: Rig, address: str) -> list[str]:
    """The plain text of each email ``address`` received, in order."""
    out = []
    for m in rig.smtp.received:
        if m.rcpt_tos == [address]:
            body = m.parsed().get_body(("plain",))
            assert body is not None
            out.append(str(body.get_content()))  # type: ignore[attr-defined]
    return out


async def test_the_resolution_waits_out_quiet_hours_and_passes_the_cap(rig: Rig) -> None:
    await _segment_of_three(rig)
    iid = await _open(rig, "attributes.carrier=andreani")
    await _round(rig)
    rig.clock.advance(timedelta(hours=10))  # 22:00 in Buenos Aires
    await _service(rig).resolve(iid, messages=Texts(None), by="ana")
    await _round(rig)
    pending = [r for r in await _crisis(rig.store, "c-1") if r[1] == "crisis_resolved"]
    assert pending == [(1, "crisis_resolved", "pending")]  # deferred, not dropped
    rig.clock.advance(timedelta(hours=11))  # 09:00
    await _round(rig)
    assert (1, "crisis_resolved", "sent") in await _crisis(rig.store, "c-1")


async def test_opted_out_customers_are_skipped_and_counted_and_never_resolved(rig: Rig) -> None:
    await _segment_of_three(rig)
    await rig.customer("c-5", last_used=None, phone=None, email=None)  # no way to reach
    await rig.promise("c-5", "A-5", timedelta(hours=5), carrier="andreani")
    iid = await _open(rig, "attributes.carrier=andreani")
    await _round(rig)
    shown = await _service(rig).show(iid)
    assert shown.counts.affected == 3
    assert shown.counts.states["told"] == 2 and shown.counts.states["skipped"] == 1
    await _service(rig).resolve(iid, messages=Texts(None), by="ana")
    await _round(rig)
    assert [r[2] for r in await _crisis(rig.store, "c-5")] == ["suppressed", "cancelled"]


async def test_the_kill_switch_holds_the_fan_out_and_resume_sends_it(rig: Rig) -> None:
    await _segment_of_three(rig)
    iid = await _open(rig, "attributes.carrier=andreani")
    await _service(rig).pause(iid, "ana")
    await _round(rig)
    assert rig.twilio.forms() == [] and rig.smtp.received == []
    assert (await _service(rig).show(iid)).counts.states["held"] == 2
    await _service(rig).resume(iid, "ana")
    await _round(rig)
    assert len(rig.twilio.forms()) == 1 and len(rig.smtp.received) == 1


async def test_a_customer_whose_promises_all_settled_before_the_send_gets_nothing(
    rig: Rig,
) -> None:
    await rig.customer("c-1")
    pid = await rig.promise("c-1", "A-1", timedelta(hours=5), carrier="andreani")
    await _open(rig, "attributes.carrier=andreani")
    await _plan(rig)
    from notifier.domain.models import Source

    await rig.ledger.keep(pid, Source.API)
    await rig.dispatcher.dispatch_until_idle()
    assert await _crisis(rig.store, "c-1") == [(0, "crisis_opened", "cancelled")]


@pytest.mark.parametrize("bad", ["carrier=andreani", "due_at<tomorrow", "status=kept"])
async def test_a_bad_segment_is_refused_naming_it(rig: Rig, bad: str) -> None:
    from notifier.domain.incidents import IncidentError

    with pytest.raises(IncidentError, match="--match"):
        await _open(rig, bad)


@pytest.fixture
def cap_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_FREQUENCY_CAP", "1")  # one proactive message a day


async def test_told_already_capped_and_in_two_incidents_still_gets_each_opening(
    cap_of_one: None, rig: Rig
) -> None:
    assert rig.settings.dispatch.frequency_cap == 1
    await rig.customer("c-1")
    await rig.promise("c-1", "A-1", timedelta(hours=-2), carrier="andreani")
    await _round(rig)  # told individually first: the day's one message is spent
    assert await _individual(rig.store, "c-1") == [("delivery_late", "sent", None)]
    first = await _open(rig, "attributes.carrier=andreani")
    second = await _open(rig, "attributes.carrier=andreani,oca")
    await _round(rig)
    assert await _crisis(rig.store, "c-1") == [(0, "crisis_opened", "sent")] * 2
    assert len(rig.twilio.forms()) == 3  # neither capped nor counted
    # The next stage of the rules is held while any open incident covers the promise.
    await _service(rig).resolve(first, messages=Texts(None), by="ana")
    rig.clock.advance(timedelta(days=1, hours=1))
    await _round(rig)
    later = (await _individual(rig.store, "c-1"))[1:]
    assert later and all(s == "suppressed" and c == "muted_by_incident" for _, s, c in later)
    await _service(rig).resolve(second, messages=Texts(None), by="ana")
    await _round(rig)
    resolved = [r for r in await _crisis(rig.store, "c-1") if r[1] == "crisis_resolved"]
    assert resolved == [(1, "crisis_resolved", "sent")] * 2
