"""Which webhook requests the engine takes as Twilio's: secret, signed URL, signed fields."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from notifier.config import LinkSettings, Settings, TwilioSettings
from notifier.engine.ingest.webhook_auth import SignatureRefused, WebhookRequest, signed_fields

TOKEN = "auth-token"
PUBLIC = "https://notifier.example.com"
PATH = "/webhooks/twilio/inbound"


def _groups(s: Settings) -> tuple[TwilioSettings, LinkSettings]:
    return s.twilio, s.links


def settings(**values: object) -> Settings:
    base: dict[str, object] = {"public_url": PUBLIC, "twilio_auth_token": SecretStr(TOKEN)}
    return Settings(**{**base, **values})


def posted(pairs: list[tuple[str, str]], signature: str | None = None) -> WebhookRequest:
    if signature is None:
        form: dict[str, list[str]] = {}
        for k, v in pairs:
            form.setdefault(k, []).append(v)
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + PATH, _MultiDict(form))
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return WebhookRequest(PATH, "", urlencode(pairs).encode(), headers)


class _MultiDict(dict[str, list[str]]):
    def getlist(self, name: str) -> list[str]:
        return self[name]


def test_a_signed_form_is_returned_with_every_field_in_order() -> None:
    pairs = [("From", "+54911"), ("MediaUrl", "b"), ("MediaUrl", "a"), ("Body", "hola")]
    assert signed_fields(*_groups(settings()), posted(pairs)) == pairs


def test_a_nul_is_kept_as_a_replacement_character() -> None:
    fields = signed_fields(*_groups(settings()), posted([("Body", "STOP\x00now")]))
    assert fields == [("Body", "STOP\ufffdnow")]


@pytest.mark.parametrize("signature", ["", "bm90LWl0"])
def test_a_missing_or_wrong_signature_is_refused(signature: str) -> None:
    with pytest.raises(SignatureRefused, match="missing or invalid X-Twilio-Signature"):
        signed_fields(*_groups(settings()), posted([("Body", "hola")], signature))


def test_a_changed_field_breaks_the_signature() -> None:
    good = posted([("Body", "hola")])
    forged = WebhookRequest(PATH, "", b"Body=STOP", good.headers)
    with pytest.raises(SignatureRefused):
        signed_fields(*_groups(settings()), forged)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"public_url": None}, "NOTIFIER_PUBLIC_URL"),
        ({"twilio_auth_token": None}, "TWILIO_AUTH_TOKEN"),
    ],
)
def test_without_what_signatures_need_every_request_is_refused_by_name(
    values: dict[str, object], missing: str
) -> None:
    with pytest.raises(SignatureRefused, match=f"cannot verify signatures: set {missing}"):
        signed_fields(*_groups(settings(**values)), posted([("Body", "hola")]))
