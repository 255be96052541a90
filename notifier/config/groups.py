"""The settings per concern, each handed only to the code that needs it.

``Settings`` (settings.py) parses the whole environment once; these frozen groups are its
views: ``settings.email`` for the SMTP channel, ``settings.dispatch`` for the dispatcher,
``settings.render`` for the renderer, and so on. A group's field has the name of the
setting it copies, so ``dispatch.lease`` is NOTIFIER_LEASE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from notifier.config.values import SmtpTls

if TYPE_CHECKING:
    from notifier.config.settings import Settings

G = TypeVar("G")


def pick(group: type[G], s: Settings) -> G:
    """Return ``group`` filled with the settings of the same names."""
    names = [f.name for f in dataclasses.fields(group)]  # type: ignore[arg-type]
    values: dict[str, Any] = {name: getattr(s, name) for name in names}
    return group(**values)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """The API server: where it listens, who may call it, how large a body it reads."""

    http_host: str
    http_port: int
    api_token: SecretStr | None
    max_body_bytes: int


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Links to this server in messages: unsubscribe links, pages, status callbacks."""

    public_url: str | None
    secret_key: SecretStr | None  # signs unsubscribe links and customer pages


@dataclass(frozen=True, slots=True)
class ClockSettings:
    """The process clock: its offset, and in test mode the instant it starts at."""

    test_mode: bool
    time_offset: timedelta
    now: datetime | None


@dataclass(frozen=True, slots=True)
class MessageSettings:
    """What every message and page says of the company, and the customer defaults."""

    default_locale: str
    default_timezone: str
    default_currency: str
    company_name: str
    company_help_url: str
    company_support_hours: Mapping[str, str]
    help_text: Mapping[str, str]  # the reply to HELP, per locale


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """The templates and the bounds of one render."""

    templates_dir: str
    default_locale: str
    sms_transliterate: bool
    max_sms_segments: int
    render_timeout: timedelta
    render_max_output: int
    render_max_value: int


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """The rule files and the defaults a rule without its own takes."""

    rules_dir: str
    templates_dir: str
    quiet_hours_start: str
    quiet_hours_end: str
    backfill: timedelta


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """The scan tick, and how many failed ticks in a row un-ready the daemon."""

    scan_interval: timedelta
    scan_batch_size: int
    consolidation_window: timedelta
    ready_max_scan_failures: int


@dataclass(frozen=True, slots=True)
class PurgeSettings:
    """How long bodies and history are kept (None: forever, NOTIFIER_RETENTION=off)."""

    retention: timedelta | None


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """The digest of customers' replies to crisis messages: how often, in which zone."""

    crisis_digest_every: timedelta
    default_timezone: str


@dataclass(frozen=True, slots=True)
class RateSettings:
    """Each channel's sender rate, per second, and X's daily quota."""

    rate_sms: float
    rate_whatsapp: float
    rate_email: float
    rate_x: float
    x_daily_quota: int | None


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """The dispatcher: how many sends at once, how often, how long a claim holds."""

    dispatch_concurrency: int
    dispatch_batch_size: int
    max_attempts: int
    lease: timedelta
    resend_unknown: bool
    shutdown_grace: timedelta
    channel_probe: timedelta
    consolidation_window: timedelta
    frequency_cap: int
    ops_email: str | None
    rates: RateSettings


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """The SMTP relay and the addresses email goes out from."""

    smtp_host: str | None
    smtp_port: int
    smtp_username: str | None
    smtp_password: SecretStr | None
    smtp_tls: SmtpTls
    smtp_timeout: timedelta
    smtp_pool_size: int
    smtp_ca_file: str | None
    email_from: str | None
    email_reply_to: str | None


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    """The Twilio account SMS and WhatsApp send through, and its webhooks' keys."""

    twilio_account_sid: str | None
    twilio_auth_token: SecretStr | None
    twilio_from: str | None
    twilio_messaging_service_sid: str | None
    twilio_whatsapp_from: str | None
    twilio_base_url: str | None
    twilio_validity_period: timedelta
    whatsapp_content_sids: Mapping[str, str]
    twilio_webhook_shared_key: SecretStr | None


@dataclass(frozen=True, slots=True)
class XDmSettings:
    """The X app and user direct messages are sent as (OAuth 1.0a or OAuth 2.0)."""

    x_consumer_key: str | None
    x_consumer_secret: SecretStr | None
    x_access_token: str | None
    x_access_token_secret: SecretStr | None
    x_bearer_token: SecretStr | None
    x_client_id: str | None
    x_client_secret: SecretStr | None
    x_refresh_token: SecretStr | None
    x_base_url: str | None


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """Every provider's settings, for the one table that builds the channels."""

    email: EmailSettings
    twilio: TwilioSettings
    x: XDmSettings
    dispatch_concurrency: int  # sends in flight at once: the HTTP pools hold as many


@dataclass(frozen=True, slots=True)
class EventSettings:
    """Outbound events: where they are posted, the key that signs them, how they retry."""

    events_url: str | None
    events_secret: SecretStr | None
    events_timeout: timedelta
    events_max_backoff: timedelta
    events_concurrency: int
    events_keep: timedelta
    shutdown_grace: timedelta
