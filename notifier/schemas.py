"""Untrusted input at the edge: the API's bodies, the CLI's options and import rows.

One set of validators, so a phone number or a timezone refused by the API is refused
with the same words by ``notifier customer add`` and by ``notifier import``.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from notifier.domain.countries import check_country
from notifier.domain.durations import looks_like_iso_instant
from notifier.domain.ingest import CustomerData, InteractionData, PromiseData
from notifier.domain.limits import AMOUNT_KEY, check_amount, check_instant, unsafe_value
from notifier.domain.models import ChannelName, CustomerId, Direction

_ZONES = frozenset(available_timezones())
# The continents and oceans of IANA's Area/Location names, the legacy country links
# (US/Eastern, Brazil/East ...) that still name a region, and Etc's fixed offsets (mind
# their POSIX sign: Etc/GMT+3 is UTC-3). Not Factory, localtime, posixrules, nor the
# one-word aliases (Japan, EST5EDT, GMT) whose Area/Location name says more.
_AREAS = frozenset({
    "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe",
    "Indian", "Pacific", "Brazil", "Canada", "Chile", "Mexico", "US", "Etc",
})  # fmt: skip
_UTC_NAMES = frozenset({"UTC"})
# Not languages: CLDR's root, BCP 47's "undetermined", and the POSIX locale names (Babel
# reads them all as some real locale, silently).
_NOT_LANGUAGES = frozenset({"root", "und", "c", "posix"})
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DIGITS = re.compile(r"^\s*[+-]?[\d.]+\s*$")
_INSTANT_EXAMPLE = "2026-11-24T09:00:00-03:00"


def check_phone(value: str) -> str:
    """Return the number in E.164; refuse anything phonenumbers does not call valid."""
    raw = value.removeprefix("whatsapp:").strip()
    if not raw.startswith("+"):
        raise ValueError(f"{value!r} is not in E.164 form: it must start with + and a country code")
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{value!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{value!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_email(value: str) -> str:
    """Return the normalised address; syntax only, no DNS look-up at ingest."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


# local@domain.tld: ``@`` alone stays allowed ("acme@3" is a reference, not an address).
_EMAIL_SHAPED = re.compile(r"^[^@]+@[^@.]+(\.[^@.]+)+$")


def check_identifier(value: str) -> str:
    """Return the id unless it looks like an email address.

    An id outlives ``forget`` in every row that names the customer, so it must not be
    personal data itself.
    """
    if _EMAIL_SHAPED.match(value):
        raise ValueError(
            "looks like an email address: customer ids are opaque references, not addresses"
        )
    return value


def check_timezone(value: str) -> str:
    """Return ``value`` when it names a region's IANA timezone (Area/Location) or UTC."""
    if value not in _ZONES:
        raise ValueError(f"unknown IANA timezone {value!r} (e.g. America/Argentina/Buenos_Aires)")
    if value not in _UTC_NAMES and value.partition("/")[0] not in _AREAS:
        raise ValueError(
            f"{value!r} is not a region's timezone: use an IANA Area/Location name "
            "(e.g. America/Argentina/Buenos_Aires) or UTC"
        )
    ZoneInfo(value)
    return value


@lru_cache(maxsize=1024)
def check_locale(value: str) -> str:
    """Return the locale as a BCP 47 tag (es, es-AR, pt-BR) when Babel knows its language."""
    unknown = f"unknown locale {value!r} (e.g. es, es-AR, en, pt-BR)"
    if value.replace("-", "_").partition("_")[0].lower() in _NOT_LANGUAGES:
        raise ValueError(unknown)
    try:
        locale = Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(unknown) from None
    return f"{locale.language}-{locale.territory}" if locale.territory else locale.language


def check_kind(value: str) -> str:
    """Return the promise kind: lower-case letters, digits and underscores."""
    if not _KIND.match(value):
        raise ValueError(f"invalid kind {value!r}: use lower-case letters, digits and _")
    return value


def iso_instant(value: object) -> object:
    """Pass a datetime, or a string in ISO 8601 with a date and a time; refuse the rest.

    pydantic parses the rest of the string (and wants its offset); numbers, and strings of
    digits such as ``"20261201"``, it would read as seconds since 1970.
    """
    if isinstance(value, datetime) or (isinstance(value, str) and looks_like_iso_instant(value)):
        return value
    numeric = isinstance(value, int | float) or (isinstance(value, str) and _DIGITS.match(value))
    raise ValueError(
        "Input should be a valid datetime: an ISO 8601 string with a date, a time and an "
        f"offset, e.g. {_INSTANT_EXAMPLE}"
        + (" (a number is not read as a time)" if numeric else "")
    )


def to_utc(value: datetime) -> datetime:
    """Return the same instant in UTC: the ledger stores and compares UTC only.

    ValueError when it lies outside the ledger's window (1970 .. 2200).
    """
    return check_instant(value)


def check_attributes(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Return the attributes when an ``amount`` among them can be formatted as money."""
    if AMOUNT_KEY in value:
        try:
            check_amount(value[AMOUNT_KEY])
        except ValueError as exc:
            raise ValueError(f"{AMOUNT_KEY}: {exc}") from None
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(iso_instant), AfterValidator(to_utc)]
Phone = Annotated[str, AfterValidator(check_phone)]
Email = Annotated[str, AfterValidator(check_email)]
Timezone = Annotated[str, AfterValidator(check_timezone)]
LocaleTag = Annotated[str, AfterValidator(check_locale)]
Country = Annotated[str, AfterValidator(check_country)]
Kind = Annotated[str, AfterValidator(check_kind)]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
# A customer id coming in: lookups keep accepting any Identifier, so that a customer stored
# under an address before this rule can still be found and forgotten.
OpaqueId = Annotated[Identifier, AfterValidator(check_identifier)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: object) -> object:
        # Before any other check, so that the answer is the same for every field: no NUL
        # in any string and no NaN or Infinity in any number, however deeply nested.
        problem = unsafe_value(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class CustomerIn(Strict):
    """PUT /v1/customers/{id}: fields left out keep their stored values."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    locale: LocaleTag | None = None
    timezone: Timezone | None = None
    country: Country | None = None  # ISO 3166-1 alpha-2; absent: read off the phone number
    phone: Phone | None = None
    email: Email | None = None
    whatsapp: Phone | None = None
    x_user_id: Annotated[str, Field(pattern=r"^[0-9]{1,20}$")] | None = None
    preferred_channel: ChannelName | None = None
    consent: dict[ChannelName, bool] = Field(default_factory=dict)

    def to_data(self, customer_id: str) -> CustomerData:
        """Return the validated customer, carrying only the fields that were given."""
        given = self.model_fields_set - {"consent"}
        values = {k: getattr(self, k) for k in given}
        return CustomerData(CustomerId(customer_id), values, dict(self.consent))


class InteractionIn(Strict):
    customer_id: OpaqueId
    channel: ChannelName
    direction: Direction
    at: Instant | None = None
    body: Annotated[str, Field(max_length=4000)] | None = None

    def to_data(self, now: datetime) -> InteractionData:
        """Return the validated interaction; no time means now."""
        return InteractionData(
            CustomerId(self.customer_id), self.channel, self.direction, self.at or now, self.body
        )


class PromiseIn(Strict):
    """POST /v1/promises: idempotent on external_ref; a changed due_at is a reschedule."""

    customer_id: OpaqueId
    kind: Kind
    due_at: Instant
    window_start: Instant | None = None
    estimate_at: Instant | None = None
    external_ref: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    attributes: Annotated[dict[str, JsonValue], AfterValidator(check_attributes)] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _window_before_due(self) -> PromiseIn:
        if self.window_start is not None and self.window_start >= self.due_at:
            raise ValueError("window_start must be before due_at (the end of the window)")
        return self

    def to_data(self, default_ref: str) -> PromiseData:
        """Return the validated promise; without external_ref it gets ``default_ref``."""
        return PromiseData(
            customer_id=CustomerId(self.customer_id),
            kind=self.kind,
            due_at=self.due_at,
            window_start=self.window_start,
            estimate_at=self.estimate_at,
            external_ref=self.external_ref or default_ref,
            attributes=self.attributes,
        )


class RescheduleIn(Strict):
    due_at: Instant
    window_start: Instant | None = None

    @model_validator(mode="after")
    def _window_before_due(self) -> RescheduleIn:
        if self.window_start is not None and self.window_start >= self.due_at:
            raise ValueError("window_start must be before due_at (the end of the window)")
        return self


ImportKind = Literal["customers", "promises", "interactions"]
