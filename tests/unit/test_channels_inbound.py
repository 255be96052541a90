"""Inbound keywords and signed unsubscribe tokens."""

from __future__ import annotations

import pytest

from notifier.channels.keywords import classify_inbound
from notifier.channels.unsubscribe import unsubscribe_token, verify_unsubscribe_token

SECRET = b"k" * 32


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        (" Stop. ", "stop"),
        ("STOPALL", "stop"),
        ("unsubscribe", "stop"),
        ("CANCEL", "stop"),
        ("end", "stop"),
        ("QUIT", "stop"),
        ("baja", "stop"),
        ("Parar", "stop"),
        ("SAIR", "stop"),
        ("START", "start"),
        ("alta", "start"),
        ("HELP", "help"),
        ("¿Ayuda?", "help"),
        ("ajuda", "help"),
        ("stop sending me this", "other"),
        ("¿dónde está mi pedido?", "other"),
        ("", "other"),
    ],
)
def test_classify_inbound(text: str, kind: str) -> None:
    assert classify_inbound(text) == kind


def test_token_round_trip() -> None:
    token = unsubscribe_token(SECRET, "cust:42/ñ", "email")
    assert verify_unsubscribe_token(SECRET, token) == ("cust:42/ñ", "email")
    assert token.replace("-", "").replace("_", "").replace(".", "").isalnum()


def test_token_is_bound_to_customer_channel_and_secret() -> None:
    token = unsubscribe_token(SECRET, "c-1", "sms")
    assert token != unsubscribe_token(SECRET, "c-2", "sms")
    assert token != unsubscribe_token(SECRET, "c-1", "email")
    assert verify_unsubscribe_token(b"other secret", token) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: unsubscribe_token(SECRET, "c-2", "sms").split(".")[0] + "." + t.split(".")[1],
        lambda t: t.split(".")[0],
        lambda t: "",
        lambda t: "!!!.???",
    ],
    ids=["signature-changed", "payload-swapped", "no-signature", "empty", "garbage"],
)
def test_tampered_token_is_refused(mangle: object) -> None:
    token = unsubscribe_token(SECRET, "c-1", "sms")
    assert verify_unsubscribe_token(SECRET, mangle(token)) is None  # type: ignore[operator]


def test_token_for_unknown_channel_is_refused() -> None:
    assert verify_unsubscribe_token(SECRET, unsubscribe_token(SECRET, "c-1", "fax")) is None
