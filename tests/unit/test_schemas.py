"""The ingest validators: the same answers for the API, the CLI and the import."""

from __future__ import annotations

import contextlib

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from notifier.schemas import CustomerIn, PromiseIn, check_locale, check_phone, check_timezone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("+5491155551234", "+5491155551234", id="ar-mobile"),
        pytest.param("+55 11 98765-4321", "+5511987654321", id="br-formatted"),
        pytest.param("whatsapp:+525512345678", "+525512345678", id="whatsapp-prefix"),
        pytest.param("+1 (212) 555-0117", "+12125550117", id="us"),
    ],
)
def test_phones_come_back_in_e164(raw: str, expected: str) -> None:
    assert check_phone(raw) == expected


@pytest.mark.parametrize("raw", ["1155551234", "+54", "+999123", "hola", "+54 11 5555"])
def test_bad_phones_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        check_phone(raw)


@given(st.sampled_from(["AR", "MX", "CO", "CL", "PE", "BR", "ES", "US"]))
def test_every_example_number_of_our_countries_is_accepted(region: str) -> None:
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    assert check_phone(e164) == e164
    assert check_phone(check_phone(e164)) == e164  # idempotent


@given(st.text(max_size=30))
def test_phone_validation_never_crashes(raw: str) -> None:
    try:
        result = check_phone(raw)
    except ValueError:
        return
    assert result.startswith("+") and result[1:].isdigit()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("es", "es"), ("es-AR", "es-AR"), ("es_ar", "es-AR"), ("pt-BR", "pt-BR"), ("en", "en")],
)
def test_locales_are_normalised(raw: str, expected: str) -> None:
    assert check_locale(raw) == expected


def test_timezones_must_be_iana() -> None:
    assert check_timezone("America/Bogota") == "America/Bogota"
    with pytest.raises(ValueError, match="IANA"):
        check_timezone("GMT-5 Bogota")


def test_an_absent_field_is_not_a_null_field() -> None:
    data = CustomerIn.model_validate({"name": "Ana"}).to_data("c-1")
    assert data.provided == {"name"}
    data = CustomerIn.model_validate({"name": "Ana", "email": None}).to_data("c-1")
    assert data.provided == {"name", "email"}


def test_emails_are_checked_without_network() -> None:
    assert CustomerIn.model_validate({"email": "Ana@Example.COM"}).email == "Ana@example.com"
    with pytest.raises(ValidationError):
        CustomerIn.model_validate({"email": "ana@"})


@given(st.dictionaries(st.sampled_from(["kind", "due_at", "customer_id", "x"]), st.text()))
def test_promise_validation_never_crashes(data: dict[str, str]) -> None:
    with contextlib.suppress(ValidationError):  # any other exception fails the test
        PromiseIn.model_validate(data)


@pytest.mark.parametrize(
    "zone", ["Factory", "localtime", "posixrules", "posix/Europe/Madrid", "EST5EDT", "GMT", "Japan"]
)
def test_timezones_must_name_a_region(zone: str) -> None:
    with pytest.raises(ValueError, match="IANA"):
        check_timezone(zone)


@pytest.mark.parametrize(
    "zone",
    [
        "UTC",
        "Etc/UTC",
        "Etc/GMT+3",
        "America/Argentina/Buenos_Aires",
        "US/Eastern",
        "Pacific/Chatham",
    ],
)
def test_region_timezones_and_utc_are_accepted(zone: str) -> None:
    assert check_timezone(zone) == zone


@pytest.mark.parametrize("raw", ["root", "und", "C", "POSIX", "c_POSIX", "und-AR", ""])
def test_locales_that_are_no_language_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="unknown locale"):
        check_locale(raw)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param("20261201", "ISO 8601", id="digits"),
        pytest.param("1764590400", "number", id="epoch-string"),
        pytest.param(1764590400, "number", id="epoch-number"),
        pytest.param(1.5, "number", id="float"),
        pytest.param("2026-12-01", "ISO 8601", id="date-only"),
        pytest.param("9999-12-31T23:00:00-03:00", "outside", id="overflow"),
        pytest.param("2200-01-01T00:00:00Z", "outside", id="2200"),
    ],
)
def test_instants_are_iso_strings_inside_the_window(raw: object, words: str) -> None:
    body = {"customer_id": "c-1", "kind": "delivery", "due_at": raw}
    with pytest.raises(ValidationError, match=words):
        PromiseIn.model_validate(body)


@given(
    st.recursive(
        st.text() | st.floats(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    )
)
def test_attribute_validation_never_crashes(attributes: object) -> None:
    body = {"customer_id": "c-1", "kind": "delivery", "due_at": "2026-12-01T10:00:00Z",
            "attributes": {"x": attributes, "amount": attributes}}  # fmt: skip
    with contextlib.suppress(ValidationError):  # any other exception fails the test
        PromiseIn.model_validate(body)
