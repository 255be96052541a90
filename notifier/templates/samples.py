"""Named sample contexts: what `messages preview` shows and what `rules check` renders.

Every shipped message must render against every sample, so together they cover
what varies: a late delivery with a long reference, an item, a raw carrier value and a
tracking link, a time window, a consolidated list, a customer far from UTC, a
40-character name with accents and an apostrophe, a refund with an amount and its
currency, a missed callback, and a delivery whose new estimate slipped too. Each also
carries what the ``ops_*`` messages read (a channel found down, the sample customer's reply,
a digest of three replies to an incident's messages)
and what the ``crisis_*`` messages read: an incident with texts in Spanish and English only
(so Portuguese reads the templates' own wording) and a new estimate; ``crisis`` is a
customer with two promises in a later update, ``crisis_plain`` an incident with no text of
its own and no estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from notifier.domain.crisis_replies import CrisisReply, PendingReplies, digest_notice
from notifier.domain.models import (
    Attributes,
    ChannelName,
    Customer,
    CustomerId,
    IncidentStatus,
    JSONValue,
    Promise,
    PromiseId,
    PromiseStatus,
)
from notifier.templates.context import Company, TimelineEntry, build_context, ops_context

SAMPLE_NOW = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # Tuesday 10:00 in Buenos Aires
SAMPLE_COMPANY = Company(
    name="Acme & Hijos",  # the ampersand shows whether a part escapes when it must not
    help_url="https://acme.example/ayuda",
    support_hours={
        "es": "lun. a vie., 9 a 18 h (hora de Buenos Aires)",
        "en": "Mon-Fri, 9 am to 6 pm (Buenos Aires time)",
        "pt-BR": "seg. a sex., das 9h às 18h (horário de Buenos Aires)",
    },
)
# Realistic sizes, not trimmed to fit: SMS templates must fit NOTIFIER_MAX_SMS_SEGMENTS
# with a 40-character full name, a 24-character reference and a 30-character link.
LONG_NAME = "María José O'Connor-Núñez de Etcheverría"
LONG_REFERENCE = "ML-20261120-000104329-AR"
LINK = "https://acme.example/p/7Hq2Xk9"
_BA = "America/Argentina/Buenos_Aires"


def _customer(cid: str, name: str | None, tz: str = _BA, locale: str = "es") -> Customer:
    return Customer(id=CustomerId(cid), locale=locale, timezone=tz, name=name)


def _promise(
    pid: int,
    cid: str,
    kind: str,
    due_at: datetime,
    *,
    window_start: datetime | None = None,
    estimate_at: datetime | None = None,
    attributes: Attributes | None = None,
    status: PromiseStatus = PromiseStatus.BROKEN,
    times_broken: int = 1,
) -> Promise:
    created = due_at - timedelta(days=3)
    return Promise(
        id=PromiseId(pid),
        customer_id=CustomerId(cid),
        kind=kind,
        status=status,
        due_at=due_at,
        external_ref=f"{kind}-{pid}",
        created_at=created,
        updated_at=SAMPLE_NOW - timedelta(hours=1),
        status_changed_at=SAMPLE_NOW - timedelta(hours=1),
        window_start=window_start,
        estimate_at=estimate_at,
        attributes=attributes or {},
        times_broken=times_broken if status is PromiseStatus.BROKEN else 0,
    )


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _timeline(cid: str) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            _at("2026-11-20T11:02:00-03:00"), "promise", "Entrega prometida para el 23/11"
        ),
        TimelineEntry(_at("2026-11-23T21:00:00-03:00"), "broken", "Venció el plazo sin entrega"),
        TimelineEntry(_at("2026-11-24T08:15:00-03:00"), "outbound", f"SMS de disculpas a {cid}"),
        TimelineEntry(
            _at("2026-11-24T09:40:00-03:00"), "inbound", "El cliente respondió por WhatsApp"
        ),
    ]


def _samples() -> dict[str, Mapping[str, object]]:
    lucia = _customer("c-1001", "Lucía Fernández Aguirre")
    delivery = _promise(
        1,
        "c-1001",
        "delivery",
        _at("2026-11-23T21:00:00-03:00"),
        estimate_at=_at("2026-11-26T18:00:00-03:00"),
        attributes={
            "order_id": LONG_REFERENCE,
            "carrier": "correo_argentino",
            "item": "zapatillas Topper",
            "tracking_url": LINK,
        },
    )
    window = _promise(
        2,
        "c-1002",
        "appointment",
        _at("2026-11-26T12:00:00-03:00"),
        window_start=_at("2026-11-26T09:00:00-03:00"),
        attributes={"order_id": "T-2291", "service": "instalación de fibra"},
    )
    several = [
        _promise(
            3,
            "c-1003",
            "delivery",
            _at("2026-11-23T18:00:00-03:00"),
            estimate_at=_at("2026-11-25T18:00:00-03:00"),
            attributes={"order_id": "A-20001"},
        ),
        _promise(
            4,
            "c-1003",
            "refund",
            _at("2026-11-22T18:00:00-03:00"),
            attributes={"order_id": "R-311", "amount": 15999.9, "currency": "ARS"},
        ),
        _promise(
            5,
            "c-1003",
            "callback",
            _at("2026-11-24T09:00:00-03:00"),
            estimate_at=_at("2026-11-24T16:00:00-03:00"),
        ),
    ]
    tokyo = _promise(
        6,
        "c-1004",
        "delivery",
        _at("2026-11-22T16:30:00+00:00"),  # Monday 23rd, 1:30 in Tokyo (Sunday in UTC)
        estimate_at=_at(
            "2026-11-25T16:00:00+00:00"
        ),  # Thursday 26th, 1:00 in Tokyo (Wednesday in UTC)
        attributes={"order_id": "JP-778"},
    )
    refund = _promise(
        7,
        "c-1006",
        "refund",
        _at("2026-11-20T18:00:00-03:00"),
        estimate_at=_at("2026-11-27T18:00:00-03:00"),
        attributes={"order_id": "RF-2026-11-000004410-ARS", "amount": 15999.9, "currency": "ARS"},
    )
    callback = _promise(
        8,
        "c-1007",
        "callback",
        _at("2026-11-24T09:00:00-03:00"),
        estimate_at=_at("2026-11-24T15:30:00-03:00"),
        attributes={"reason": "consulta por factura"},
    )
    slipped = _promise(
        10,
        "c-1008",
        "delivery",
        _at("2026-11-20T18:00:00-03:00"),
        estimate_at=_at("2026-11-23T18:00:00-03:00"),  # the new estimate has passed too
        attributes={"order_id": "B-88120", "carrier": "andreani", "tracking_url": LINK},
        times_broken=2,
    )
    moments_b = _moments_b()  # issue 22, helper B: medical appointment, complaint, repair
    return {
        "delivery": _context(lucia, delivery, timeline=_timeline("c-1001")),
        "window": _context(_customer("c-1002", "Diego Ruiz"), window),
        "several": _context(
            _customer("c-1003", "Camila Soto"),
            several[0],
            others=several[1:],
            timeline=_timeline("c-1003"),
        ),
        "other_timezone": _context(
            _customer("c-1004", "Kenji Sato", tz="Asia/Tokyo", locale="en"), tokyo
        ),
        "accents": _context(
            _customer("c-1005", LONG_NAME, tz="Europe/Madrid"),
            _promise(
                9,
                "c-1005",
                "delivery",
                _at("2026-11-23T20:00:00+01:00"),
                attributes={
                    "order_id": "E-55&60",
                    "carrier": "servientrega",
                    "tracking_url": "https://acme.example/p/x?a=1&b",
                },
            ),
        ),
        "refund": _context(_customer("c-1006", None), refund),
        "callback": _context(_customer("c-1007", "Rafael Lima"), callback),
        "slipped": _context(
            _customer("c-1008", "Juan Pablo Martínez Sosa", locale="es-AR"), slipped
        ),
        **moments_b,
        **_moments_a(),
        **_crisis(),
    }


def _crisis() -> dict[str, Mapping[str, object]]:
    # Two deliveries held up by the strike, told again at update 2 with a later estimate;
    # and an incident whose operator wrote no text (only a Spanish title) and no estimate.
    strike = [
        _promise(
            31,
            "c-1031",
            "delivery",
            _at("2026-11-24T18:00:00-03:00"),
            status=PromiseStatus.OPEN,
            attributes={"order_id": "A-30117", "carrier": "andreani", "item": "un monitor LG"},
        ),
        _promise(
            32,
            "c-1031",
            "delivery",
            _at("2026-11-23T18:00:00-03:00"),
            attributes={"order_id": "A-30342", "carrier": "andreani"},
        ),
    ]
    later = _incident(2, estimate_at=_at("2026-11-27T12:00:00-03:00"), changed=True)
    plain = _promise(
        33,
        "c-1032",
        "refund",
        _at("2026-11-23T18:00:00-03:00"),
        attributes={"order_id": "RF-30400", "amount": 8200.0, "currency": "ARS"},
    )
    return {
        "crisis": _context(
            _customer("c-1031", "Valentina Sosa", locale="es-AR"),
            strike[0],
            others=strike[1:],
            incident=later,
        ),
        "crisis_plain": _context(
            _customer("c-1032", "Mateo Herrera"), plain, incident=_incident(texts=False)
        ),
    }


def _moments_b() -> dict[str, Mapping[str, object]]:
    # A medical appointment with what to bring, a complaint with the date of its answer,
    # a repair whose new estimate is set, a case escalated to a person (issue 22).
    medical = _promise(
        11,
        "c-1011",
        "medical_appointment",
        _at("2026-11-25T09:30:00-03:00"),
        status=PromiseStatus.OPEN,
        attributes={
            "reference": "TUR-48213",
            "specialty": "Cardiología",
            "doctor": "Dra. Laura Benítez",
            "place": "Sede Belgrano, Av. Cabildo 2040, 3.er piso",
            "bring": "DNI, credencial y estudios previos",
        },
    )
    complaint = _promise(
        12,
        "c-1012",
        "complaint",
        _at("2026-11-27T18:00:00-03:00"),
        status=PromiseStatus.OPEN,
        estimate_at=_at("2026-11-30T18:00:00-03:00"),
        attributes={
            "reference": "RC-73104",
            "topic": "un cobro duplicado en tu factura de octubre",
        },
    )
    repair = _promise(
        13,
        "c-1013",
        "device_repair",
        _at("2026-11-23T18:00:00-03:00"),
        estimate_at=_at("2026-11-27T18:00:00-03:00"),
        attributes={
            "order_id": "ST-118204",
            "item": "celular Motorola Moto G54",
            "place": "Service Acme, Av. Corrientes 1234, CABA",
            "bring": "el comprobante de ingreso y tu DNI",
        },
    )
    person = _promise(
        14,
        "c-1014",
        "callback",
        _at("2026-11-24T18:00:00-03:00"),  # "una persona te llama hoy antes de las 18"
        status=PromiseStatus.OPEN,
        attributes={"escalated": True, "reference": "CASO-55120", "reason": "cobro duplicado"},
    )
    return {
        "person": _context(_customer("c-1014", "Sofía Castro"), person),
        "medical": _context(_customer("c-1011", "Valentina Gómez Ibarra", locale="es-AR"), medical),
        "complaint": _context(_customer("c-1012", "Martín Herrera"), complaint),
        "repair": _context(_customer("c-1013", "Ana Clara Duarte Ribeiro", locale="pt-BR"), repair),
    }


def _ops(customer: Customer, timeline: Sequence[TimelineEntry]) -> dict[str, object]:
    # What the ops_* messages read: a channel found down, this customer's reply, rows
    # whose lookup failed.
    data: dict[str, JSONValue] = {
        "channel": "whatsapp",
        "reason": "HTTP 401, code 20003: Authenticate",
        "until": (SAMPLE_NOW + timedelta(minutes=5)).isoformat(),
        "number": "+5491155550101",
        "text": "¿Dónde está mi pedido?\nHace 3 días que espero & nadie avisa",
        "customers": [{"id": customer.id, "name": customer.name}],
        "ids": [1042, 1043],
        "tries": 6,
        "error": "no answer from Twilio in time",
        **_digest(customer),
        # A crisis rule's proposal (ops_crisis_detected).
        "incident_id": 7,
        "title": "Demoras con andreani en AMBA",
        "rule": "carrier-breakdown",
        "group": "attributes.carrier=andreani attributes.region=AMBA",
        "broken": 31,
        "due": 96,
        "share": "32%",
        "baseline": 2.5,
        "examples": ["A-30117", "A-30342"],
        "awaiting": True,
        "confirm": "notifier incident confirm 7",
        "dismiss": "notifier incident dismiss 7",
    }
    return ops_context(data, {customer.id: timeline})


def _digest(customer: Customer) -> Mapping[str, JSONValue]:
    # A digest of three replies to incident 7's messages, this customer's among them.
    texts: list[tuple[CustomerId, ChannelName, str]] = [
        (customer.id, "whatsapp", "¿Dónde está mi pedido?\nHace 3 días que espero & nadie avisa"),
        (CustomerId("c-2002"), "sms", "ok gracias por avisar"),
        (CustomerId("c-2003"), "sms", "Necesito el pedido para el viernes <urgente>, " * 8),
    ]
    replies = tuple(
        CrisisReply(7, cid, channel, "+54911****0101", text, f"twilio-inbound:SM{i}",
                    SAMPLE_NOW + timedelta(minutes=i))
        for i, (cid, channel, text) in enumerate(texts)
    )  # fmt: skip
    pending = PendingReplies(
        7, "Paro de transportistas en AMBA", IncidentStatus.IDENTIFIED, 2, 4, 104,
        replies[0].at, SAMPLE_NOW + timedelta(minutes=4), replies,
    )  # fmt: skip
    notice = digest_notice(pending, SAMPLE_NOW, ZoneInfo("America/Argentina/Buenos_Aires"))
    return notice.data


def _incident(
    update: int = 0,
    *,
    texts: bool = True,
    estimate_at: datetime | None = None,
    changed: bool = False,
) -> dict[str, object]:
    # What domain.crisis.incident_variable gives a crisis message; the renderer then picks
    # ``title`` and ``message`` in the rendered locale's own language.
    titles = {"es": "Paro de transportistas en AMBA", "en": "Carrier strike in Buenos Aires"}
    messages = {
        "es": "Un paro de transportistas frena los envíos en AMBA.",
        "en": "A carrier strike is holding up deliveries in Buenos Aires.",
    }
    return {
        "id": 7,
        "update": update,
        "titles": titles if texts else {"es": "Falla en el sistema de pagos"},
        "messages": messages if texts else {},
        "status": "identified" if update else "investigating",
        "severity": "major",
        "estimate_at": estimate_at,
        "estimate_changed": changed,
        "updates_on": ["email", "x"],
        "opened_at": SAMPLE_NOW - timedelta(hours=2),
        "resolved_at": None,
    }


SAMPLE_INCIDENT = _incident(estimate_at=_at("2026-11-26T18:00:00-03:00"))


def _context(
    customer: Customer,
    promise: Promise,
    *,
    others: Sequence[Promise] = (),
    timeline: Sequence[TimelineEntry] = (),
    incident: Mapping[str, object] = SAMPLE_INCIDENT,
) -> Mapping[str, object]:
    return MappingProxyType(
        build_context(
            customer,
            promise,
            others=others,
            company=SAMPLE_COMPANY,
            now=SAMPLE_NOW,
            timeline=timeline,
            ops=_ops(customer, timeline),
            incident=incident,
        )
    )


def _moments_a() -> dict[str, Mapping[str, object]]:
    # Issue 22 (helper A): a wrong bill, a failed payment, a late card, an order we cancelled.
    bill = _promise(
        21,
        "c-1021",
        "bill",
        _at("2026-11-20T18:00:00-03:00"),
        estimate_at=_at("2026-11-27T18:00:00-03:00"),  # the corrected bill
        attributes={
            "reference": "FC-B-0004-00012345",
            "period": "2026-11",
            "amount": 48250.5,
            "currency": "ARS",
            "bill_issue": "wrong_amount",
            "tracking_url": "https://acme.example/f/Qm3v",
        },
    )
    payment = _promise(
        22,
        "c-1022",
        "payment",
        _at("2026-11-23T12:00:00-03:00"),
        estimate_at=_at("2026-11-27T12:00:00-03:00"),  # the next try
        attributes={
            "reference": "PG-2026-11-000088172-ARS",
            "amount": 12999.0,
            "currency": "ARS",
            "failure_reason": "card_expired",
            "tracking_url": "https://acme.example/pago/K2x9",
        },
    )
    card = _promise(
        23,
        "c-1023",
        "card",
        _at("2026-11-23T21:00:00-03:00"),
        estimate_at=_at("2026-11-27T18:00:00-03:00"),
        attributes={
            "reference": "TJ-000451-7789",
            "item": "tarjeta de débito Visa",
            "carrier": "andreani",
            "tracking_url": LINK,
        },
    )
    cancelled = _promise(
        24,
        "c-1024",
        "delivery",
        _at("2026-11-25T21:00:00-03:00"),
        estimate_at=_at("2026-12-01T18:00:00-03:00"),  # when the money is back
        status=PromiseStatus.CANCELLED,
        attributes={
            "order_id": "A-20261121-773",
            "item": "heladera Gafa",
            "cancelled_by": "company",
            "cancel_reason": "out_of_stock",
            "amount": 89999.0,
            "currency": "ARS",
        },
    )
    return {
        "bill": _context(_customer("c-1021", "Ana Gutiérrez Ocampo", locale="es-AR"), bill),
        "payment": _context(_customer("c-1022", None), payment),
        "card": _context(_customer("c-1023", "Sofía Inés Benítez", locale="es-AR"), card),
        "cancelled": _context(_customer("c-1024", "Pedro Ferreyra Díaz"), cancelled),
    }


SAMPLES: Mapping[str, Mapping[str, object]] = MappingProxyType(_samples())

_RESOLUTION = {
    "es": "El paro terminó y los envíos volvieron a salir.",
    "en": "The strike is over and deliveries are moving again.",
}


def sample_for(message: str, context: Mapping[str, object]) -> Mapping[str, object]:
    """``context`` as ``message`` would see it: a crisis update reads a later step, a
    resolution the resolved incident with the resolution's own texts; others as they are."""
    incident = context.get("incident")
    if not isinstance(incident, Mapping) or message not in ("crisis_update", "crisis_resolved"):
        return context
    changed: dict[str, object]
    if message == "crisis_update":
        changed = {"update": max(1, int(str(incident.get("update") or 0)))}
    else:
        changed = {
            "update": int(str(incident.get("update") or 0)) + 1,
            "status": "resolved",
            "messages": _RESOLUTION if incident.get("messages") else {},
            "estimate_at": None,
            "estimate_changed": False,
            "resolved_at": SAMPLE_NOW,
        }
    return MappingProxyType({**context, "incident": {**incident, **changed}})
