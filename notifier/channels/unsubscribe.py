"""Unsubscribe links: opaque tokens that name a customer and a channel and cannot be forged.

A link is AES-GCM encrypted under a key derived from NOTIFIER_SECRET_KEY: nobody can read
the customer id from it, forge one or alter one. It carries the instant it was issued, so
that revoking a customer's links (``revoke_links``) kills those issued until then without
rotating the key. Links of the first format (``<payload>.<signature>``, readable payload)
are still honoured, as issued before any revocation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from notifier.config import EmailSettings, LinkSettings
from notifier.domain.models import ChannelName, is_channel

# 128 bits of HMAC-SHA256 are plenty against guessing and keep the URL short.
SIGNATURE_BYTES = 16
NONCE_BYTES = 12
MIN_SECRET_LENGTH = 32
# Binds the derived key and every ciphertext to this use of the secret.
_CONTEXT = b"notifier unsubscribe link v2"


@dataclass(frozen=True, slots=True)
class Link:
    """What a genuine token names; ``issued_at`` is None for a first-format link."""

    customer_id: str
    channel: ChannelName
    issued_at: datetime | None


def link_token(secret: bytes, customer_id: str, channel: str, issued_at: datetime) -> str:
    """Return an opaque URL-safe token opting ``customer_id`` out of ``channel``."""
    millis = int(issued_at.timestamp() * 1000)
    plain = f"{channel}:{millis}:{customer_id}".encode()
    nonce = os.urandom(NONCE_BYTES)
    return _encode(nonce + AESGCM(_key(secret)).encrypt(nonce, plain, _CONTEXT))


def verify_link(secret: bytes, token: str) -> Link | None:
    """Return what ``token`` names when it is genuine (either format), else None."""
    if "." in token:  # base64url has no dot: only first-format tokens carry one
        legacy = verify_unsubscribe_token(secret, token)
        return Link(legacy[0], legacy[1], None) if legacy else None
    try:
        raw = _decode(token)
        plain = AESGCM(_key(secret)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _CONTEXT)
    except (binascii.Error, ValueError, InvalidTag):
        return None
    channel, _, rest = plain.decode("utf-8", "replace").partition(":")
    millis, _, customer_id = rest.partition(":")
    if not customer_id or not millis.isdigit() or not is_channel(channel):
        return None
    issued = datetime.fromtimestamp(int(millis) / 1000, UTC)
    return Link(customer_id, channel, issued)  # type: ignore[arg-type]  # is_channel checked it


def unsubscribe_url(
    public_url: str, secret: bytes, customer_id: str, channel: str, issued_at: datetime
) -> str:
    """Return the one-click unsubscribe link for ``customer_id`` on ``channel``."""
    token = link_token(secret, customer_id, channel, issued_at)
    return f"{public_url.rstrip('/')}/unsubscribe/{token}"


def _key(secret: bytes) -> bytes:
    return hashlib.sha256(_CONTEXT + b"\0" + secret).digest()


# -- the first format, still honoured -------------------------------------------------------


def unsubscribe_token(secret: bytes, customer_id: str, channel: str) -> str:
    """Return a first-format token (readable payload, signed); only old emails carry these."""
    payload = f"{channel}:{customer_id}".encode()
    signature = hmac.new(secret, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return f"{_encode(payload)}.{_encode(signature)}"


def verify_unsubscribe_token(secret: bytes, token: str) -> tuple[str, ChannelName] | None:
    """Return (customer id, channel) when the first-format ``token`` is genuine, else None."""
    encoded_payload, dot, encoded_signature = token.partition(".")
    if not dot:
        return None
    try:
        payload = _decode(encoded_payload)
        signature = _decode(encoded_signature)
    except (binascii.Error, ValueError):
        return None
    expected = hmac.new(secret, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    if not hmac.compare_digest(signature, expected):
        return None
    channel, colon, customer_id = payload.decode("utf-8", "replace").partition(":")
    if not colon or not customer_id or not is_channel(channel):
        return None
    return customer_id, channel  # type: ignore[return-value]  # is_channel checked it


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- what sending email needs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkReadiness:
    """Whether emails can carry working links: one refusal line, or warnings."""

    refusal: str | None = None
    warnings: tuple[str, ...] = ()


def link_readiness(s: LinkSettings) -> LinkReadiness:
    """Return why emails could not carry an unsubscribe link under ``s``, if they could not.

    Gmail and Yahoo refuse bulk mail without RFC 8058 one-click unsubscribe, so a missing
    key or URL is a refusal, not a silent email without the header.
    """
    secret = s.secret_key.get_secret_value() if s.secret_key else ""
    if not secret:
        return LinkReadiness(
            "NOTIFIER_SECRET_KEY is not set: emails need it for their unsubscribe links "
            f"(at least {MIN_SECRET_LENGTH} random characters)"
        )
    if len(secret) < MIN_SECRET_LENGTH:
        return LinkReadiness(
            f"NOTIFIER_SECRET_KEY has {len(secret)} characters: unsubscribe links need "
            f"at least {MIN_SECRET_LENGTH}"
        )
    url = (s.public_url or "").strip()
    if not url:
        return LinkReadiness(
            "NOTIFIER_PUBLIC_URL is not set: emails need it for their unsubscribe links "
            "(e.g. https://notifier.example.com)"
        )
    if url.startswith("http://"):
        return LinkReadiness(
            warnings=(
                f"NOTIFIER_PUBLIC_URL is {url}: RFC 8058 wants HTTPS for one-click "
                "unsubscribe links",
            )
        )
    if not url.startswith("https://"):
        return LinkReadiness(f"NOTIFIER_PUBLIC_URL {url!r} must start with https://")
    return LinkReadiness()


def sends_customer_email(s: EmailSettings) -> bool:
    """Return True when email is configured (the registry builds it from these two)."""
    return bool(s.smtp_host and s.email_from)
