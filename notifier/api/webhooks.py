"""Twilio webhooks: delivery status callbacks and inbound SMS and WhatsApp (signature-checked)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse

from notifier.api.deps import Services, ServicesDep
from notifier.channels.keywords import classify_inbound
from notifier.channels.twilio_api import report_outcome
from notifier.domain.ingest import InteractionData
from notifier.domain.limits import NUL
from notifier.domain.local_text import text_for
from notifier.domain.models import ChannelName, Customer, Direction
from notifier.domain.ops_notices import inbound_reply_notice
from notifier.domain.outbox import Scheduled
from notifier.observability import mask_phone

log = structlog.get_logger("notifier.webhooks")
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])
Params = ImmutableMultiDict[str, str]


async def signed_params(request: Request, svc: ServicesDep) -> Params:
    """Return the form Twilio posted, or refuse it (403) unless its signature is genuine.

    The signed URL is NOTIFIER_PUBLIC_URL plus the path: behind a proxy the URL this process
    sees is not the one Twilio called.
    """
    raw = (await request.body()).decode("utf-8", "replace")
    params: Params = ImmutableMultiDict(parse_qsl(raw, keep_blank_values=True))
    twilio, public_url = svc.settings.twilio, svc.settings.links.public_url
    settings_header = request.headers.get(SIGNATURE_SETTINGS_HEADER)
    secret = twilio.twilio_webhook_shared_key if settings_header else twilio.twilio_auth_token
    if public_url is None or secret is None:
        missing = "NOTIFIER_PUBLIC_URL" if public_url is None else _secret_name(settings_header)
        log.error("webhooks.unverifiable", path=request.url.path, missing=missing)
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"cannot verify signatures: set {missing}")
    url = public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    # A JSON body is signed through its bodySHA256 query parameter: the SDK wants it raw.
    signed: Params | str = raw if "bodySHA256" in request.query_params else params
    validator = RequestValidator(secret.get_secret_value())
    algorithm = get_signature_algorithm(settings_header)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature or not validator.validate(url, signed, signature, algorithm):
        log.warning("webhooks.bad_signature", path=request.url.path, signed=bool(signature))
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or invalid X-Twilio-Signature")
    # Kept as the customer wrote it, but for NUL, which PostgreSQL text cannot hold: refusing
    # the form would only make Twilio post it again.
    return ImmutableMultiDict([(k, v.replace(NUL, "\ufffd")) for k, v in params.multi_items()])


def _secret_name(settings_header: str | None) -> str:
    if settings_header:
        return "NOTIFIER_TWILIO_WEBHOOK_SHARED_KEY"
    return "TWILIO_AUTH_TOKEN"


SignedParams = Annotated[Params, Depends(signed_params)]


@router.post("/status")
async def delivery_status(params: SignedParams, svc: ServicesDep) -> Response:
    """Record a delivery report; undelivered and failed send the notification on its way.

    Twilio's code table classifies it; a 21610 records the opt-out as a STOP would.
    """
    sid = params.get("MessageSid") or params.get("SmsSid")
    state = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not state:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "MessageSid and MessageStatus required")
    report = report_outcome(sid, state, params.get("ErrorCode") or None)
    key = f"twilio-status:{sid}:{report.status}"
    if not await svc.store.first_receipt(key, svc.clock.now()):
        log.info("webhooks.replay", provider_id=sid, status=report.status)
        return Response(status_code=status.HTTP_200_OK)
    async with _undo_receipt_on_error(svc, key):
        outcome = await svc.store.record_delivery(report, svc.clock.now())
    if not outcome.found:
        # Answered 200 all the same: Twilio would retry an error, and no retry can help.
        log.info("webhooks.status_unknown", provider_id=sid, status=report.status)
        return Response(status_code=status.HTTP_200_OK)
    log.info(
        "webhooks.status",
        provider_id=sid,
        status=report.status,
        code=report.code,
        notifications=list(outcome.found),
        moved_on=list(outcome.moved_on),
        address_failed=outcome.address_failed,
        opted_out=outcome.opted_out,
    )
    if outcome.moved_on:
        svc.wake_dispatcher()
    return Response(status_code=status.HTTP_200_OK)


@router.post("/inbound")
async def inbound_message(params: SignedParams, svc: ServicesDep) -> Response:
    """Handle a customer's SMS or WhatsApp text: keywords, last used channel, ops for the rest."""
    sender = params.get("From", "")
    channel: ChannelName = "whatsapp" if sender.startswith("whatsapp:") else "sms"
    number = sender.removeprefix("whatsapp:")
    body = params.get("Body", "")
    kind = classify_inbound(body)
    now = svc.clock.now()
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    key = f"twilio-inbound:{sid}"
    # A message without an id cannot be told from its replay: it is acted on every time.
    if sid and not await svc.store.first_receipt(key, now):
        log.info("webhooks.replay", provider_id=sid, channel=channel)
        return Response(str(MessagingResponse()), media_type="text/xml")
    async with _undo_receipt_on_error(svc, key if sid else None):
        found = await svc.store.customers_by_number(channel, number) if number else []
        await svc.ledger.add_interactions(
            [InteractionData(c.id, channel, Direction.INBOUND, now, body or None) for c in found]
        )
        if kind in ("stop", "start"):
            for customer in found:
                await svc.store.set_consent(customer.id, channel, kind == "start", now)
        elif kind == "other":  # a person answers: ops get it by email through the outbox
            await _forward_to_ops(svc, channel, number, body, found, sid)
    log.info(
        "webhooks.inbound",
        channel=channel,
        kind=kind,
        sender=mask_phone(number),
        customers=[c.id for c in found],
        provider_id=params.get("MessageSid"),
    )
    reply = MessagingResponse()
    if kind == "help":
        # In the sender's locale when the number is a customer's (NOTIFIER_HELP_TEXT per locale).
        messages = svc.settings.messages
        locale = found[0].locale if found else messages.default_locale
        reply.message(text_for(messages.help_text, locale, messages.default_locale))
    return Response(str(reply), media_type="text/xml")


@asynccontextmanager
async def _undo_receipt_on_error(svc: Services, key: str | None) -> AsyncIterator[None]:
    """Drop the receipt when handling fails, so that Twilio's retry is acted on."""
    try:
        yield
    except BaseException:
        if key is not None:
            try:
                await svc.store.drop_receipt(key)
            except Exception as exc:  # the store is failing: the handling error matters more
                log.error("webhooks.receipt_kept", key=key, reason=type(exc).__name__)
        raise


async def _forward_to_ops(
    svc: Services,
    channel: ChannelName,
    number: str,
    body: str,
    found: list[Customer],
    sid: str,
) -> None:
    """Put the text in the outbox for ops, and wake the dispatcher: it sends the email.

    A replay (the same MessageSid) is the same notice: it is not enqueued twice.
    """
    now = svc.clock.now()
    notice = inbound_reply_notice(channel, number, body, found, sid, now)
    added = await svc.store.enqueue([Scheduled(notice, now)], now)
    if added:
        svc.wake_dispatcher()
    log.info("webhooks.forwarded", provider_id=sid, customers=[c.id for c in found],
             queued=bool(added))  # fmt: skip
