"""Untrusted input at the edge: the API's bodies, the CLI's options and import rows.

One set of validators, so a phone number or a timezone refused by the API is refused
with the same words by ``notifier customer add`` and by ``notifier import``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
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
    ConfigDict,
    Field,
    JsonValue,
    model_validator,
)

from notifier.domain.ingest import CustomerData, InteractionData, PromiseData
from notifier.domain.models import ChannelName, CustomerId, Direction

_ZONES = frozenset(available_timezones())
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


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
    """Return ``value`` when it names an IANA timezone."""
    if value not in _ZONES:
        raise ValueError(f"unknown IANA timezone {value!r} (e.g. America/Argentina/Buenos_Aires)")
    ZoneInfo(value)
    return value


@lru_cache(maxsize=1024)
def check_locale(value: str) -> str:
    """Return the locale as a BCP 47 tag (es, es-AR, pt-BR) when Babel knows it."""
    try:
        locale = Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise ValueError(f"unknown locale {value!r} (e.g. es, es-AR, en, pt-BR)") from None
    return f"{locale.language}-{locale.territory}" if locale.territory else locale.language


def check_kind(value: str) -> str:
    """Return the promise kind: lower-case letters, digits and underscores."""
    if not _KIND.match(value):
        raise ValueError(f"invalid kind {value!r}: use lower-case letters, digits and _")
    return value


def to_utc(value: datetime) -> datetime:
    """Return the same instant in UTC: the ledger stores and compares UTC only."""
    return value.astimezone(UTC)


Instant = Annotated[AwareDatetime, AfterValidator(to_utc)]
Phone = Annotated[str, AfterValidator(check_phone)]
Email = Annotated[str, AfterValidator(check_email)]
Timezone = Annotated[str, AfterValidator(check_timezone)]
LocaleTag = Annotated[str, AfterValidator(check_locale)]
Kind = Annotated[str, AfterValidator(check_kind)]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
# A customer id coming in: lookups keep accepting any Identifier, so that a customer stored
# under an address before this rule can still be found and forgotten.
OpaqueId = Annotated[Identifier, AfterValidator(check_identifier)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(Strict):
    """PUT /v1/customers/{id}: fields left out keep their stored values."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    locale: LocaleTag | None = None
    timezone: Timezone | None = None
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
    attributes: dict[str, JsonValue] = Field(default_factory=dict)

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
