"""Twilio webhooks: delivery status callbacks and inbound SMS and WhatsApp (signature-checked).

The routes speak HTTP only: read the form, hand it to the engine (``engine/ingest/``),
answer 200 with TwiML. Twilio would retry an error, so a report naming no message of ours
is answered 200 all the same.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from starlette.datastructures import ImmutableMultiDict

from notifier.api.deps import ServicesDep
from notifier.engine.ingest.inbound import InboundText, twiml_reply
from notifier.engine.ingest.webhook_auth import SignatureRefused, WebhookRequest, signed_fields

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])
Params = ImmutableMultiDict[str, str]


async def signed_params(request: Request, svc: ServicesDep) -> Params:
    """Return the form Twilio posted, or refuse it (403) unless its signature is genuine."""
    posted = WebhookRequest(
        request.url.path, request.url.query, await request.body(), request.headers
    )
    try:
        return ImmutableMultiDict(signed_fields(svc.settings.twilio, svc.settings.links, posted))
    except SignatureRefused as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None


SignedParams = Annotated[Params, Depends(signed_params)]


@router.post("/status")
async def delivery_status(params: SignedParams, svc: ServicesDep) -> Response:
    """Record a delivery report; undelivered and failed send the notification on its way."""
    sid = params.get("MessageSid") or params.get("SmsSid")
    state = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not state:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "MessageSid and MessageStatus required")
    await svc.inbound.delivery_report(sid, state, params.get("ErrorCode") or None)
    return Response(status_code=status.HTTP_200_OK)


@router.post("/inbound")
async def inbound_message(params: SignedParams, svc: ServicesDep) -> Response:
    """Handle a customer's SMS or WhatsApp text: keywords, last used channel, ops for the rest."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    text = InboundText.from_sender(params.get("From", ""), params.get("Body", ""), sid)
    reply = await svc.inbound.text(text)
    return Response(twiml_reply(reply), media_type="text/xml")
