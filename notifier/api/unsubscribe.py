"""``/unsubscribe/{token}``: a confirmation page for people, one-click POST for mail clients.

GET never opts anyone out: mail scanners and link previews fetch every link in a message.
POST does, whether a mail client sends RFC 8058's ``List-Unsubscribe=One-Click`` or a person
presses the page's button.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import structlog
from fastapi import APIRouter, Depends, status
from fastapi.responses import HTMLResponse

from notifier.api.deps import Services, ServicesDep, require_token
from notifier.domain.models import ChannelName
from notifier.engine.ingest.consent import LinkRefusal
from notifier.schemas import Identifier

log = structlog.get_logger("notifier.webhooks")
router = APIRouter(tags=["unsubscribe"])
# Revoking is an operator's act: behind the API token, unlike the links themselves.
admin = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["unsubscribe"])


@dataclass(frozen=True, slots=True)
class Wording:
    lang: str
    title: str
    ask: str  # {company} {channel}
    button: str
    done: str  # {company} {channel}
    already: str  # {company} {channel}
    invalid: str
    channels: dict[ChannelName, str]


WORDING: dict[str, Wording] = {
    "es": Wording(
        "es",
        "Darse de baja",
        "¿Quieres dejar de recibir {channel} de {company}?",
        "Sí, darme de baja",
        "Listo: no te enviaremos más {channel} de {company}.",
        "Ya no recibes {channel} de {company}: la baja estaba hecha.",
        "Este enlace no es válido.",
        {
            "email": "correos",
            "sms": "SMS",
            "whatsapp": "mensajes de WhatsApp",
            "x": "mensajes en X",
        },
    ),
    "pt": Wording(
        "pt",
        "Cancelar inscrição",
        "Deseja deixar de receber {channel} da {company}?",
        "Sim, cancelar",
        "Pronto: você não receberá mais {channel} da {company}.",
        "Sua inscrição já está cancelada: não enviamos {channel} da {company}.",
        "Este link não é válido.",
        {
            "email": "e-mails",
            "sms": "SMS",
            "whatsapp": "mensagens de WhatsApp",
            "x": "mensagens no X",
        },
    ),
    "en": Wording(
        "en",
        "Unsubscribe",
        "Stop receiving {channel} from {company}?",
        "Yes, unsubscribe me",
        "Done: {company} will send you no more {channel}.",
        "You are already unsubscribed: {company} sends you no {channel}.",
        "This link is not valid.",
        {
            "email": "emails",
            "sms": "text messages",
            "whatsapp": "WhatsApp messages",
            "x": "X messages",
        },
    ),
}


def wording_for(locale: str | None, default_locale: str) -> Wording:
    """Return the page's wording in ``locale`` (es-AR -> es), else the default's, else English."""
    for candidate in (locale, default_locale):
        lang = (candidate or "").replace("_", "-").split("-")[0].lower()
        if lang in WORDING:
            return WORDING[lang]
    return WORDING["en"]


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, svc: ServicesDep) -> HTMLResponse:
    """Show the confirmation page, in the customer's language, with a button that POSTs."""
    found = await svc.consent.resolve(token)
    if isinstance(found, str):
        return _refused(svc, found)
    customer, channel = found.customer, found.channel
    w = wording_for(customer.locale, svc.settings.messages.default_locale)
    fill = {"company": escape(svc.settings.messages.company_name), "channel": w.channels[channel]}
    if channel in customer.opted_out:
        return _page(w, f"<p>{w.already.format(**fill)}</p>")
    form = (
        f"<p>{w.ask.format(**fill)}</p>\n"
        f'<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit">{escape(w.button)}</button></form>'
    )
    return _page(w, form)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, svc: ServicesDep) -> HTMLResponse:
    """Opt the customer out of the token's channel and confirm (RFC 8058 one-click)."""
    found = await svc.consent.opt_out(token)
    if isinstance(found, str):
        return _refused(svc, found)
    w = wording_for(found.customer.locale, svc.settings.messages.default_locale)
    fill = {
        "company": escape(svc.settings.messages.company_name),
        "channel": w.channels[found.channel],
    }
    return _page(w, f"<p>{w.done.format(**fill)}</p>")


@admin.post("/customers/{customer_id}/unsubscribe-links/revoke")
async def revoke_links(customer_id: Identifier, svc: ServicesDep) -> dict[str, object]:
    """Make every unsubscribe link sent to the customer so far answer 410; later ones work."""
    at = await svc.ledger.revoke_links(customer_id)
    log.info("unsubscribe.links_revoked", customer_id=customer_id)
    return {"customer_id": customer_id, "links_revoked_at": at}


def _refused(svc: Services, why: LinkRefusal) -> HTMLResponse:
    """The page refusing a link: 404 for one that is not genuine, 410 for a revoked one."""
    return _invalid(svc, status.HTTP_410_GONE if why == "revoked" else status.HTTP_404_NOT_FOUND)


def _invalid(svc: Services, code: int = status.HTTP_404_NOT_FOUND) -> HTMLResponse:
    w = wording_for(None, svc.settings.messages.default_locale)
    return _page(w, f"<p>{escape(w.invalid)}</p>", code)


def _page(w: Wording, content: str, code: int = status.HTTP_200_OK) -> HTMLResponse:
    html = (
        f'<!doctype html>\n<html lang="{w.lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(w.title)}</title></head>\n"
        f'<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">'
        f"<h1>{escape(w.title)}</h1>\n{content}\n</body></html>\n"
    )
    # The page names the customer's choices: no shared cache may keep it.
    return HTMLResponse(html, status_code=code, headers={"Cache-Control": "no-store"})
