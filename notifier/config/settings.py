"""Settings from the environment (prefix ``NOTIFIER_``), read once at start-up.

A value that cannot work (not a duration, a port past 65535, a rate of zero, a database
notifier has no driver for) stops start-up: load_settings raises SettingsError with one
line per problem, naming the variable (notifier/config_errors.py words them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from babel.numbers import is_currency
from pydantic import (
    AliasChoices,
    AwareDatetime,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from notifier.config.groups import (
    ClockSettings,
    DigestSettings,
    DispatchSettings,
    EmailSettings,
    EventSettings,
    HttpSettings,
    LinkSettings,
    MessageSettings,
    ProviderSettings,
    PurgeSettings,
    RateSettings,
    RenderSettings,
    RuleSettings,
    ScanSettings,
    TwilioSettings,
    XDmSettings,
    pick,
)
from notifier.config.values import (
    Count,
    Duration,
    ListenPort,
    LocalText,
    Port,
    PositiveDuration,
    Rate,
    Retention,
    SignedDuration,
    SmtpTls,
    check_database_url,
    check_http_url,
)
from notifier.config_errors import SettingsError, describe
from notifier.schemas import check_locale, check_timezone

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_EVENTS_SECRET = 16


class Settings(BaseSettings):
    """Every setting notifier reads; docs/operations.md and docs/channels.md list them."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", populate_by_name=True)

    # Store and HTTP
    database_url: str = "sqlite+aiosqlite:///./notifier.db"
    http_host: str = "127.0.0.1"
    http_port: ListenPort = 8080
    api_token: SecretStr | None = None
    secret_key: SecretStr | None = None  # signs unsubscribe links and customer pages
    public_url: str | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1)  # larger request bodies get 413

    # Demo and test
    demo: bool = False
    test_mode: bool = False
    time_offset: SignedDuration = timedelta(0)  # may be negative: -3d
    now: AwareDatetime | None = None  # test mode only: the instant the clock starts at

    # Files ops edit
    rules_dir: str = "rules"
    templates_dir: str = "templates"

    # Messages
    default_locale: str = "es"
    default_timezone: str = "America/Argentina/Buenos_Aires"
    default_currency: str = "USD"
    company_name: str = "Acme"
    company_help_url: str = "https://example.com/help"
    # Per locale: a plain string, or JSON {"es": "...", "en": "...", "pt-BR": "..."}.
    company_support_hours: LocalText = Field(
        default_factory=lambda: {
            "es": "lun. a vie., 9 a 18 h (hora de Buenos Aires)",
            "en": "Mon-Fri, 9 am to 6 pm (Buenos Aires time)",
            "pt-BR": "seg. a sex., das 9h às 18h (horário de Buenos Aires)",
        }
    )
    sms_transliterate: bool = False
    max_sms_segments: Count = 2
    render_timeout: Duration = timedelta(seconds=1)  # one render, cooperative deadline
    render_max_output: int = 65_536  # characters of one rendered message
    render_max_value: int = 1_000_000  # characters plus items of any one value in a render
    # The reply to HELP, in the sender's locale: a plain string or JSON per locale.
    help_text: LocalText = Field(
        default_factory=lambda: {
            "es": "Acme: mensajes sobre tus pedidos. Responde STOP para no recibir más, "
            "START para volver.",
            "es-AR": "Acme: mensajes sobre tus pedidos. Respondé STOP para no recibir más, "
            "START para volver.",
            "en": "Acme: messages about your orders. Reply STOP to opt out, START to opt back in.",
            "pt-BR": "Acme: mensagens sobre seus pedidos. Responda STOP para não receber mais, "
            "START para voltar.",
        }
    )

    # Rules
    quiet_hours_start: str = "21:00"
    quiet_hours_end: str = "08:00"
    backfill: Duration = timedelta(hours=24)

    # Email (SMTP)
    smtp_host: str | None = None
    smtp_port: Port = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: SmtpTls = "starttls"
    smtp_timeout: PositiveDuration = timedelta(seconds=30)
    smtp_pool_size: Count = 8  # connections kept open to the relay (sends in flight at once)
    smtp_ca_file: str | None = None  # PEM CAs trusted instead of the system store
    email_from: str | None = None
    email_reply_to: str | None = None

    # Twilio: the SDK's own names are accepted as they are.
    twilio_account_sid: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "NOTIFIER_TWILIO_ACCOUNT_SID"),
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "NOTIFIER_TWILIO_AUTH_TOKEN"),
    )
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_base_url: str | None = None
    twilio_validity_period: PositiveDuration = timedelta(hours=4)
    whatsapp_content_sids: dict[str, str] = Field(default_factory=dict)
    # A Twilio Webhook Rule signs with this SharedKey secret instead of the auth token.
    twilio_webhook_shared_key: SecretStr | None = None

    # X direct messages
    x_consumer_key: str | None = None
    x_consumer_secret: SecretStr | None = None
    x_access_token: str | None = None
    x_access_token_secret: SecretStr | None = None
    x_bearer_token: SecretStr | None = None
    x_client_id: str | None = None
    x_client_secret: SecretStr | None = None
    x_refresh_token: SecretStr | None = None
    x_base_url: str | None = None

    ops_email: str | None = None

    # Outbound events for the CRM (docs/operations.md, "Outbound events")
    events_url: str | None = None
    events_secret: SecretStr | None = None  # signs every event; required with the URL
    events_timeout: PositiveDuration = timedelta(seconds=10)  # one POST, connect to answer
    events_max_backoff: PositiveDuration = timedelta(minutes=10)  # retries wait at most this
    events_concurrency: Count = 16  # events in flight at once (each to its own promise)
    events_keep: Duration = timedelta(days=7)  # delivered events are deleted this much later

    # Daemon
    scan_interval: PositiveDuration = timedelta(seconds=30)
    scan_batch_size: Count = 1000
    consolidation_window: Duration = timedelta(minutes=10)
    frequency_cap: Count = 3
    dispatch_concurrency: Count = 64
    max_attempts: Count = 8
    lease: PositiveDuration = timedelta(seconds=60)
    resend_unknown: bool = False
    shutdown_grace: Duration = timedelta(seconds=20)
    dispatch_batch_size: Count = 200
    # A channel found down is tried again after channel_probe.
    channel_probe: PositiveDuration = timedelta(minutes=5)
    ready_max_scan_failures: Count = 3  # failed ticks in a row un-ready it
    # Bodies and history older than this are purged (store/retention.py); off keeps all.
    retention: Retention = timedelta(days=90)
    # Customers' replies to an incident's messages reach ops as one email this often.
    crisis_digest_every: PositiveDuration = timedelta(minutes=5)

    # Sender rate limits (docs/operations.md gives the providers' figures behind them).
    rate_sms: Rate = 10.0  # SMS segments per second, as carriers count them
    rate_whatsapp: Rate = 80.0  # messages per second (Twilio's default WhatsApp throughput)
    rate_email: Rate = 14.0  # messages per second (a typical SMTP relay's sending rate)
    rate_x: Rate = 1.0  # direct messages per second
    x_daily_quota: Count | None = 1440  # X Pro tier: about 1,440 direct messages a day per app

    # Logging
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # The groups (groups.py), each filled from the fields of its names. Built on each read,
    # not cached: a model_copy(update=...) must not carry its original's groups.
    @property
    def http(self) -> HttpSettings:
        return pick(HttpSettings, self)

    @property
    def links(self) -> LinkSettings:
        return pick(LinkSettings, self)

    @property
    def clock(self) -> ClockSettings:
        return pick(ClockSettings, self)

    @property
    def messages(self) -> MessageSettings:
        return pick(MessageSettings, self)

    @property
    def render(self) -> RenderSettings:
        return pick(RenderSettings, self)

    @property
    def rules(self) -> RuleSettings:
        return pick(RuleSettings, self)

    @property
    def scan(self) -> ScanSettings:
        return pick(ScanSettings, self)

    @property
    def purge(self) -> PurgeSettings:
        return pick(PurgeSettings, self)

    @property
    def digest(self) -> DigestSettings:
        return pick(DigestSettings, self)

    @property
    def rates(self) -> RateSettings:
        return pick(RateSettings, self)

    @property
    def dispatch(self) -> DispatchSettings:
        return pick(DispatchSettings, self)

    @property
    def email(self) -> EmailSettings:
        return pick(EmailSettings, self)

    @property
    def twilio(self) -> TwilioSettings:
        return pick(TwilioSettings, self)

    @property
    def x(self) -> XDmSettings:
        return pick(XDmSettings, self)

    @property
    def providers(self) -> ProviderSettings:
        return pick(ProviderSettings, self)

    @property
    def events(self) -> EventSettings:
        return pick(EventSettings, self)

    @model_validator(mode="after")
    def _now_in_test_mode_only(self) -> Settings:
        if self.now is not None and not self.test_mode:
            raise ValueError("NOTIFIER_NOW is read in test mode only: set NOTIFIER_TEST_MODE=1")
        return self

    @model_validator(mode="after")
    def _events_signed(self) -> Settings:
        secret = self.events_secret.get_secret_value() if self.events_secret else ""
        if self.events_url is not None and len(secret) < MIN_EVENTS_SECRET:
            raise ValueError(
                f"NOTIFIER_EVENTS_SECRET: set at least {MIN_EVENTS_SECRET} characters to sign "
                "the events NOTIFIER_EVENTS_URL receives"
            )
        return self

    @field_validator("events_url")
    @classmethod
    def _events_http(cls, url: str | None) -> str | None:
        return check_http_url(url) if url is not None and url.strip() else None

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        return check_database_url(url)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object, info: ValidationInfo) -> object:
        # `NOTIFIER_API_TOKEN=` in an env file (compose passes it as an empty string) means
        # unset for every setting that may be unset: never an empty token, key, URL or address.
        if info.field_name is None or cls.model_fields[info.field_name].default is not None:
            return value
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(text, str) and not text.strip() else value

    # Every customer without a zone, locale or currency of their own gets these: one that
    # cannot load would fail each of their messages, not start-up.
    @field_validator("default_timezone")
    @classmethod
    def _real_zone(cls, zone: str) -> str:
        try:
            return check_timezone(zone)
        except ValueError:
            raise ValueError(
                "is not an IANA time zone (e.g. America/Argentina/Buenos_Aires)"
            ) from None

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, locale: str) -> str:
        try:
            check_locale(locale)
        except ValueError:
            raise ValueError("is not a locale (e.g. es, es-AR, en, pt-BR)") from None
        return locale

    @field_validator("default_currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        if not is_currency(currency):
            raise ValueError("is not an ISO 4217 currency code (e.g. USD, ARS)")
        return currency

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.upper() not in LOG_LEVELS:
            raise ValueError(f"is not a log level ({', '.join(LOG_LEVELS)})")
        return level.upper()


def load_settings() -> Settings:
    """Return the settings read from the environment; raises SettingsError, one line a problem."""
    try:
        return Settings()
    except (ValidationError, SourceError) as exc:
        raise SettingsError(describe(exc, Settings.model_fields)) from None
