"""Issue 22's moments (helper B) from the ledger to the customer's phone, as the daemon runs.

The real store (SQLite and PostgreSQL), the shipped rules and templates, the scan and the
dispatcher, the local Twilio and SMTP fakes; only the clock is the test's.
"""

from __future__ import annotations

from datetime import timedelta

from notifier.domain.models import Source
from tests.integration.rig import Rig

M = timedelta(minutes=1)


def bodies(rig: Rig) -> list[str]:
    return [form["Body"] for form in rig.twilio.forms()]


async def test_a_complaint_is_acknowledged_apologised_for_and_closed(rig: Rig) -> None:
    await rig.customer("c-1", name="Martín Herrera")
    pid = await rig.promise("c-1", "RC-73104", timedelta(days=5), kind="complaint")
    await rig.tick()
    [ack] = bodies(rig)
    assert "Martín, recibimos tu reclamo RC-73104 y lo lamentamos" in ack, ack
    assert "Te respondemos a más tardar el" in ack, ack
    await rig.tick()
    assert len(bodies(rig)) == 1  # acknowledged once

    rig.clock.advance(timedelta(days=5, hours=1, minutes=16))
    await rig.tick()
    late = bodies(rig)[1:]
    assert len(late) == 1 and "perdón: tu reclamo RC-73104 sigue sin respuesta" in late[0], late
    # The message says a person took it: ops were told in the same pass.
    assert [m.rcpt_tos for m in rig.smtp.received] == [["ops@acme.example"]]

    await rig.ledger.keep(pid, Source.API)
    rig.clock.advance(6 * M)
    await rig.tick()
    resolved = bodies(rig)[2:]
    assert len(resolved) == 1 and "tu reclamo RC-73104 quedó resuelto" in resolved[0], resolved


async def test_a_cancelled_medical_appointment_apologises_only_when_it_was_ours(rig: Rig) -> None:
    await rig.customer("ours", name="Valentina Gómez Ibarra")
    ours = await rig.promise(
        "ours", "TUR-1", timedelta(days=3), kind="medical_appointment", cancelled_by="clinic"
    )
    await rig.customer("theirs", name="Diego Ruiz", phone="+5491155550102")
    theirs = await rig.promise(
        "theirs", "TUR-2", timedelta(days=3), kind="medical_appointment", cancelled_by="customer"
    )
    await rig.tick()
    assert bodies(rig) == []  # three days ahead: the reminder is not due yet
    await rig.ledger.cancel(ours, Source.API)
    await rig.ledger.cancel(theirs, Source.API)
    rig.clock.advance(6 * M)
    await rig.tick()
    forms = rig.twilio.forms()
    assert [f["To"] for f in forms] == ["+5491155550101"], forms
    assert "Valentina, perdón: cancelamos tu turno del" in forms[0]["Body"]
    assert "Respondé y te damos otro." in forms[0]["Body"]


async def test_the_reminder_goes_the_day_before_with_what_to_bring(rig: Rig) -> None:
    await rig.customer("c-2", name="Valentina Gómez Ibarra")
    await rig.promise(
        "c-2", "TUR-3", timedelta(days=2), kind="medical_appointment", bring="DNI y credencial"
    )
    await rig.tick()
    assert bodies(rig) == []
    rig.clock.advance(timedelta(days=1))
    await rig.tick()
    [reminder] = bodies(rig)
    assert "Valentina, tu turno es mañana a las" in reminder, reminder
    assert "Traé DNI y credencial." in reminder, reminder
