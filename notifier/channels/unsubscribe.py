"""Signed unsubscribe tokens: a link names a customer and a channel and cannot be forged."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from notifier.domain.models import ChannelName, is_channel

# 128 bits of HMAC-SHA256 are plenty against guessing and keep the URL short.
SIGNATURE_BYTES = 16


def unsubscribe_token(secret: bytes, customer_id: str, channel: str) -> str:
    """Return a URL-safe token for opting ``customer_id`` out of ``channel``."""
    payload = f"{channel}:{customer_id}".encode()
    signature = hmac.new(secret, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return f"{_encode(payload)}.{_encode(signature)}"


def verify_unsubscribe_token(secret: bytes, token: str) -> tuple[str, ChannelName] | None:
    """Return (customer id, channel) when ``token`` is genuine, else None."""
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


def unsubscribe_url(public_url: str, secret: bytes, customer_id: str, channel: str) -> str:
    """Return the one-click unsubscribe link for ``customer_id`` on ``channel``."""
    return f"{public_url.rstrip('/')}/unsubscribe/{unsubscribe_token(secret, customer_id, channel)}"
