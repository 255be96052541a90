"""The demo ledger: a few dozen customers across Latin America, some promises already late.

Loading is idempotent: customers are upserted with fixed values and a promise whose
reference already exists is left alone, so a second ``notifier demo`` changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from notifier.domain.ingest import CustomerData, InteractionData, PromiseData
from notifier.domain.models import (
    CHANNELS,
    ChannelName,
    CustomerId,
    Direction,
    JSONValue,
    Source,
)
from notifier.engine.ingest.ledger_service import Ledger

# id | name | locale | timezone | phone | email at example.com | last used channel
# Some SMS customer with a late or at-risk promise is outside quiet hours (21:00-08:00 in
# their own zone) at every UTC hour (Madrid, Chicago, Tijuana, Sydney), so a newcomer's
# first run shows an SMS apology whenever it is started.
_PEOPLE_TABLE = """
ana | Ana Pérez | es-AR | America/Argentina/Buenos_Aires | +5491155550101 | ana.perez | whatsapp
martin | Martín Gómez | es-AR | America/Argentina/Cordoba | +5493515550102 | martin.gomez | sms
lucia | Lucía Fernández | es-AR | America/Argentina/Buenos_Aires | +5491155550103 | lucia.f | email
sofia | Sofía Martínez | es-MX | America/Mexico_City | +525555550104 | sofia.mtz | whatsapp
diego | Diego Hernández | es-MX | America/Monterrey | +528155550105 | diego.h | sms
valentina | Valentina López | es-CO | America/Bogota | +573015550106 | valentina | email
camilo | Camilo Rodríguez | es-CO | America/Bogota | +573105550107 | camilo.r | x
catalina | Catalina Muñoz | es-CL | America/Santiago | +56955550108 | cata.munoz | whatsapp
benjamin | Benjamín Rojas | es-CL | America/Santiago | +56955550109 | benja.rojas | sms
rosa | Rosa Quispe | es-PE | America/Lima | +51955550110 | rosa.quispe | whatsapp
jorge | Jorge Castillo | es-PE | America/Lima | +51955550111 | jorge.c | email
maria-jose | María José O'Connor | es | America/Montevideo | +59894555012 | mjoconnor | email
joao | João Silva | pt-BR | America/Sao_Paulo | +5511955550113 | joao.silva | whatsapp
ana-beatriz | Ana Beatriz Souza | pt-BR | America/Sao_Paulo | +5521955550114 | ana.souza | sms
thiago | Thiago Oliveira | pt-BR | America/Manaus | +5592955550115 | thiago.o | email
fernanda | Fernanda Lima | pt-BR | America/Recife | +5581955550116 | fernanda.lima | whatsapp
emily | Emily Johnson | en | America/New_York | +12125550117 | emily.j | email
michael | Michael Brown | en | America/Chicago | +13125550118 | m.brown | sms
pablo | Pablo Sánchez | es-MX | America/Tijuana | +526645550122 | pablo.s | sms
carlos | Carlos Ramírez | es | America/Caracas | +584125550120 | carlos.r | whatsapp
isabel | Isabel Torres | es | Europe/Madrid | +34655550121 | isabel.t | sms
sarah | Sarah Davis | en | America/Los_Angeles | +14155550119 | sarah.d | x
gabriela | Gabriela Vargas | es | America/Costa_Rica | +50685550123 | gabi.vargas | whatsapp
andres | Andrés Morales | es | America/Guayaquil | +593995550124 | andres.m | email
jack | Jack Wilson | en | Australia/Sydney | +61255550125 | jack.w | sms
"""
_PEOPLE: list[tuple[str, ...]] = [
    tuple(cell.strip() for cell in line.split("|")) for line in _PEOPLE_TABLE.strip().splitlines()
]

_CARRIERS = ["andreani", "oca", "correo_argentino", "estafeta", "servientrega", "chilexpress",
             "olva", "correios", "jadlog", "ups"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Plan:
    kind: str
    due: timedelta  # relative to the first load; negative: already late
    window: timedelta | None = None
    attributes: dict[str, JSONValue] | None = None


def _plans(index: int) -> list[_Plan]:
    """Two or three promises per customer, a mix of kinds, some already late."""
    carrier = _CARRIERS[index % len(_CARRIERS)]
    order = f"PED-{20260 + index:05d}"
    delivery: dict[str, JSONValue] = {
        "carrier": carrier, "order_id": order, "tracking": f"TRK{index:06d}",
    }  # fmt: skip
    if index % 6 == 2:  # due in 2 hours and the carrier reports a delay: "may be late"
        delivery["carrier_status"] = "delayed"
    plans = [_Plan("delivery", timedelta(hours=[-3, -1, 2, 5, 26, -26][index % 6]), None, delivery)]
    if index % 3 == 0:
        amount: dict[str, JSONValue] = {
            "amount": 4999 + index * 250, "currency": "ARS", "reference": f"REE-{7100 + index}",
        }  # fmt: skip
        plans.append(_Plan("refund", timedelta(days=[-2, 3, 1][index % 3]), attributes=amount))
    if index % 4 == 1:
        case: dict[str, JSONValue] = {"topic": "factura", "reference": f"CASO-{880 + index}"}
        plans.append(_Plan("callback", timedelta(minutes=[-45, 90][index % 2]), attributes=case))
    if index % 5 == 2:
        visit: dict[str, JSONValue] = {
            "technician": "Equipo técnico", "service": "instalación",
            "reference": f"OT-{450 + index}",
        }  # fmt: skip
        plans.append(
            _Plan("appointment", timedelta(days=1, hours=2), timedelta(hours=3), attributes=visit)
        )
    return plans


def _last(index: int) -> ChannelName:
    channel = _PEOPLE[index][6]
    if channel not in CHANNELS:
        raise ValueError(f"demo table: unknown channel {channel!r}")
    return channel


def _customer(index: int, row: tuple[str, ...]) -> CustomerData:
    cid, name, locale, tz, phone, mailbox, last = row
    values: dict[str, str | None] = {
        "name": name, "locale": locale, "timezone": tz, "phone": phone,
        "email": f"{mailbox}@example.com",
        "whatsapp": phone if last == "whatsapp" else None,
        "x_user_id": str(1_000_000 + index) if last == "x" else None,
    }  # fmt: skip
    return CustomerData(CustomerId(f"demo-{cid}"), values)


async def load_demo(ledger: Ledger) -> tuple[int, int]:
    """Load the demo ledger; return (customers, promises) added by this call."""
    now = ledger.clock.now()
    customers = [_customer(i, row) for i, row in enumerate(_PEOPLE)]
    upserted = await ledger.put_customers(customers)
    added_customers = [c for c, r in zip(customers, upserted, strict=True) if r.created]
    # A touchpoint only for new customers, so a second load changes nothing.
    await ledger.add_interactions(
        [
            InteractionData(c.id, _last(i), Direction.INBOUND, now - timedelta(days=1 + i % 5))
            for i, c in enumerate(customers)
            if c in added_customers
        ]
    )
    existing = {p.external_ref for p in await ledger.list_promises(limit=10_000)}
    promises: list[PromiseData] = []
    for i, customer in enumerate(customers):
        for j, plan in enumerate(_plans(i)):
            ref = f"demo-{plan.kind}-{i:02d}-{j}"
            if ref in existing:
                continue
            due = now + plan.due
            promises.append(
                PromiseData(
                    customer_id=customer.id,
                    kind=plan.kind,
                    due_at=due,
                    window_start=due - plan.window if plan.window else None,
                    external_ref=ref,
                    attributes=plan.attributes or {},
                )
            )
    if promises:
        await ledger.put_promises(promises, Source.DEMO)
    return len(added_customers), len(promises)
