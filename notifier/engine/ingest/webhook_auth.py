"""Which Twilio webhook requests are genuine: the secret, the signed URL, the signed fields.

The route hands over the request as it came (path, query, body, headers); the signature
check itself is Twilio's wire detail and stays in ``channels/twilio_webhook.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

import structlog

from notifier.channels.twilio_webhook import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    is_genuine,
)
from notifier.config import LinkSettings, TwilioSettings
from notifier.domain.limits import NUL

log = structlog.get_logger("notifier.webhooks")
Fields = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A webhook request as it reached this process."""

    path: str
    query: str  # the raw query string, without "?"
    body: bytes
    headers: Mapping[str, str]  # looked up by name, case-insensitively (Starlette's Headers)


class SignatureRefused(Exception):
    """The request cannot be shown to come from Twilio; the text says why (the 403's detail)."""


def signed_fields(twilio: TwilioSettings, links: LinkSettings, request: WebhookRequest) -> Fields:
    """Return the form Twilio posted, or raise SignatureRefused unless its signature is genuine.

    The signed URL is NOTIFIER_PUBLIC_URL plus the path: behind a proxy the URL this process
    sees is not the one Twilio called.
    """
    raw = request.body.decode("utf-8", "replace")
    fields = parse_qsl(raw, keep_blank_values=True)
    settings_header = request.headers.get(SIGNATURE_SETTINGS_HEADER)
    public_url = links.public_url
    secret = twilio.twilio_webhook_shared_key if settings_header else twilio.twilio_auth_token
    if public_url is None or secret is None:
        missing = "NOTIFIER_PUBLIC_URL" if public_url is None else _secret_name(settings_header)
        log.error("webhooks.unverifiable", path=request.path, missing=missing)
        raise SignatureRefused(f"cannot verify signatures: set {missing}")
    url = public_url.rstrip("/") + request.path
    if request.query:
        url += "?" + request.query
    # A JSON body is signed through its bodySHA256 query parameter: the SDK wants it raw.
    query_names = {name for name, _ in parse_qsl(request.query, keep_blank_values=True)}
    signed: Fields | str = raw if "bodySHA256" in query_names else fields
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not is_genuine(secret.get_secret_value(), url, signed, signature, settings_header):
        log.warning("webhooks.bad_signature", path=request.path, signed=bool(signature))
        raise SignatureRefused("missing or invalid X-Twilio-Signature")
    # Kept as the customer wrote it, but for NUL, which PostgreSQL text cannot hold: refusing
    # the form would only make Twilio post it again.
    return [(k, v.replace(NUL, "\ufffd")) for k, v in fields]


def _secret_name(settings_header: str | None) -> str:
    if settings_header:
        return "NOTIFIER_TWILIO_WEBHOOK_SHARED_KEY"
    return "TWILIO_AUTH_TOKEN"
