"""Twilio's webhooks on the wire: the request signature, and the TwiML a webhook answers.

The SDK's validator and TwiML builder stay here, so that nothing above the channels
imports the twilio package; the engine decides which secret and URL a request is checked
against (``engine/ingest/webhook_auth.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse

__all__ = ["SIGNATURE_HEADER", "SIGNATURE_SETTINGS_HEADER", "is_genuine", "twiml_reply"]


def is_genuine(
    secret: str,
    url: str,
    signed: Sequence[tuple[str, str]] | str,
    signature: str,
    settings_header: str | None,
) -> bool:
    """Return whether ``signature`` is Twilio's for ``url`` and ``signed`` under ``secret``.

    ``signed`` is the form's fields in order (a name may repeat), or the raw body when a
    JSON body is signed through the URL's bodySHA256 parameter (the SDK wants it raw then).
    The settings header names the algorithm; without it Twilio signs with the legacy one.
    """
    if not signature:
        return False
    validator = RequestValidator(secret)
    algorithm = get_signature_algorithm(settings_header)
    params: _Fields | str = signed if isinstance(signed, str) else _Fields.of(signed)
    return bool(validator.validate(url, params, signature, algorithm))


def twiml_reply(text: str | None) -> str:
    """Return the TwiML answer to an inbound text: one message of ``text``, or none."""
    reply = MessagingResponse()
    if text is not None:
        reply.message(text)
    return str(reply)


class _Fields(dict[str, list[str]]):
    """A form's fields by name, every value kept: the validator signs them all."""

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, str]]) -> _Fields:
        fields = cls()
        for name, value in pairs:
            fields.setdefault(name, []).append(value)
        return fields

    def getlist(self, name: str) -> list[str]:  # the name the SDK looks for (Django's)
        return self[name]
