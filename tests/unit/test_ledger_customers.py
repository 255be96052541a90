"""The customer merge: each field's rule for incoming values over the stored customer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.ingest import CUSTOMER_FIELDS, CustomerData
from notifier.domain.ledger import (
    LastInbound,
    after_inbound,
    merge_customer,
    with_consent,
    with_undeliverable,
)
from notifier.domain.models import ChannelName, Customer, CustomerId

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=5)
STORED = Customer(
    id=CustomerId("c1"), locale="pt-BR", timezone="America/Sao_Paulo", name="Ana",
    phone="+5511999990000", email="ana@example.com", whatsapp="+5511999990001",
    x_user_id="42", preferred_channel="email", opted_out=frozenset({"sms"}),
    undeliverable={"sms": "+5511999990000", "email": "ana@example.com"},
    last_used_channel="whatsapp", last_whatsapp_inbound_at=T0, created_at=T0, updated_at=T0,
)  # fmt: skip


def _merge(
    stored: Customer | None,
    values: dict[str, str | None] | None = None,
    consent: dict[ChannelName, bool] | None = None,
) -> Customer:
    incoming = CustomerData(CustomerId("c1"), values or {}, consent or {})
    return merge_customer(stored, incoming, NOW, default_locale="es", default_tz="UTC")


def test_a_new_customer_starts_from_the_defaults_with_what_was_given() -> None:
    expected = Customer(
        id=CustomerId("c1"), locale="es", timezone="UTC", name="Ana",
        opted_out=frozenset({"sms"}), created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    assert _merge(None, {"name": "Ana", "locale": None}, {"sms": False, "email": True}) == expected


def test_a_new_customer_keeps_a_given_locale_and_zone() -> None:
    merged = _merge(None, {"locale": "pt-BR", "timezone": "America/Sao_Paulo"})
    assert (merged.locale, merged.timezone) == ("pt-BR", "America/Sao_Paulo")


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"name": "Ana", "email": "ana@example.com"},
        {"locale": None, "timezone": None},
        {"locale": "pt-BR"},
    ],
)
def test_nothing_new_returns_the_stored_customer_itself(values: dict[str, str | None]) -> None:
    assert _merge(STORED, values, {"sms": False, "email": True}) is STORED


@pytest.mark.parametrize("field", CUSTOMER_FIELDS)
def test_a_given_plain_field_replaces_the_stored_value(field: str) -> None:
    value = "x" if field != "preferred_channel" else "sms"
    merged = _merge(STORED, {field: value})
    assert getattr(merged, field) == value
    assert merged.updated_at == NOW
    others = [f for f in CUSTOMER_FIELDS if f != field]
    assert [getattr(merged, f) for f in others] == [getattr(STORED, f) for f in others]


@pytest.mark.parametrize("field", ["name", "phone", "email", "whatsapp", "x_user_id"])
def test_a_plain_field_given_as_none_clears_it(field: str) -> None:
    assert getattr(_merge(STORED, {field: None}), field) is None


@pytest.mark.parametrize("field", ["locale", "timezone"])
def test_a_locale_or_zone_given_as_none_keeps_the_stored_one(field: str) -> None:
    assert _merge(STORED, {field: None}) is STORED


@pytest.mark.parametrize(
    ("consent", "opted_out"),
    [
        ({"email": False}, {"sms", "email"}),
        ({"sms": True}, set()),
        ({"sms": True, "x": False}, {"x"}),
        ({"whatsapp": True}, None),
    ],
)
def test_consent_opts_out_of_or_back_into_each_channel_named(
    consent: dict[ChannelName, bool], opted_out: set[str] | None
) -> None:
    merged = _merge(STORED, {}, consent)
    if opted_out is None:
        assert merged is STORED
    else:
        assert merged.opted_out == opted_out
        assert merged.updated_at == NOW


@pytest.mark.parametrize(
    ("field", "still_undeliverable"),
    [
        ("phone", {"email": "ana@example.com"}),
        ("email", {"sms": "+5511999990000"}),
        ("whatsapp", {"sms": "+5511999990000", "email": "ana@example.com"}),
        ("name", {"sms": "+5511999990000", "email": "ana@example.com"}),
    ],
)
def test_a_changed_address_is_no_longer_known_undeliverable(
    field: str, still_undeliverable: dict[str, str]
) -> None:
    assert _merge(STORED, {field: "new"}).undeliverable == still_undeliverable


def test_the_same_address_given_again_stays_undeliverable() -> None:
    assert _merge(STORED, {"phone": "+5511999990000"}) is STORED


def test_any_change_brings_a_forgotten_customer_back_and_nothing_else_does() -> None:
    forgotten = replace(STORED, forgotten=True)
    assert _merge(forgotten, {"name": "Ana"}) is forgotten
    assert not _merge(forgotten, {}, {"email": False}).forgotten
    assert not _merge(forgotten, {"name": "Bea"}).forgotten


def test_the_merge_leaves_the_channel_history_alone() -> None:
    merged = _merge(STORED, {"name": "Bea", "phone": "+1"}, {"x": False})
    assert (merged.last_used_channel, merged.last_whatsapp_inbound_at, merged.created_at) == (
        "whatsapp",
        T0,
        T0,
    )


@pytest.mark.parametrize(
    ("last", "channel", "minutes", "expected"),
    [
        (LastInbound(), "sms", 0, LastInbound("sms", T0, None)),
        (LastInbound(), "whatsapp", 0, LastInbound("whatsapp", T0, T0)),
        # As new as the last: the later report wins.
        (LastInbound("sms", T0), "email", 0, LastInbound("email", T0)),
        # Older than the last (reported late): the channel stays.
        (LastInbound("sms", T0), "email", -5, LastInbound("sms", T0)),
        # An older WhatsApp one still moves the session window if newer than its last one.
        (
            LastInbound("sms", T0, T0 - timedelta(hours=1)),
            "whatsapp",
            -5,
            LastInbound("sms", T0, T0 - timedelta(minutes=5)),
        ),
        (LastInbound("whatsapp", T0, T0), "whatsapp", -5, LastInbound("whatsapp", T0, T0)),
        (
            LastInbound("whatsapp", T0, T0),
            "sms",
            5,
            LastInbound("sms", T0 + timedelta(minutes=5), T0),
        ),
    ],
)
def test_after_inbound(
    last: LastInbound, channel: ChannelName, minutes: int, expected: LastInbound
) -> None:
    assert after_inbound(last, channel, T0 + timedelta(minutes=minutes)) == expected


@pytest.mark.parametrize(
    ("opted_out", "consent", "expected"),
    [
        (set(), {"sms": False}, {"sms"}),
        ({"sms"}, {"sms": False}, {"sms"}),
        ({"sms"}, {"sms": True}, set()),
        (set(), {"sms": True}, set()),
        ({"sms", "x"}, {"x": True, "email": False}, {"sms", "email"}),
        ({"sms"}, {}, {"sms"}),
    ],
)
def test_with_consent(
    opted_out: set[ChannelName], consent: dict[ChannelName, bool], expected: set[ChannelName]
) -> None:
    assert with_consent(frozenset(opted_out), consent) == expected


def test_with_undeliverable_marks_the_address_and_keeps_the_others() -> None:
    marks: dict[ChannelName, str] = {"sms": "+1"}
    assert with_undeliverable(marks, "email", "a@b") == {"sms": "+1", "email": "a@b"}
    assert with_undeliverable(marks, "sms", "+2") == {"sms": "+2"}
    assert marks == {"sms": "+1"}
