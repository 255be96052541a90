"""The inbound email webhook: customers' replies, as Mailgun, Postmark, SendGrid or an MTA
post them.

The body is the raw message (``message/rfc822``), or SendGrid Inbound Parse's form with the
raw message in its ``email`` field. The bearer token (NOTIFIER_API_TOKEN) may come as
``?token=``, since these providers are configured with a URL only. Every email that can be
read is answered 200, an unknown sender's too: providers retry anything else.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from notifier.api.deps import ServicesDep, require_token_or_query

router = APIRouter(
    prefix="/webhooks/email", dependencies=[Depends(require_token_or_query)], tags=["webhooks"]
)


@router.post("/inbound")
async def inbound_email(request: Request, svc: ServicesDep) -> dict[str, str]:
    """Act on a customer's email reply; 422 (naming what is wrong) when it cannot be read."""
    content_type = request.headers.get("content-type", "message/rfc822")
    outcome = await svc.inbound_email.receive(content_type, await request.body())
    return {"outcome": outcome}
