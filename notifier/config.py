"""Settings from the environment (prefix ``NOTIFIER_``), read once at start-up."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AliasChoices, AwareDatetime, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.domain.durations import parse_duration


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


def _signed_duration(value: object) -> object:
    if isinstance(value, str) and value.strip().startswith("-"):
        return -parse_duration(value.strip()[1:])
    return _duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
SignedDuration = Annotated[timedelta, BeforeValidator(_signed_duration)]
SmtpTls = Literal["none", "starttls", "implicit"]


class Settings(BaseSettings):
    """Every setting notifier reads; docs/operations.md and docs/channels.md list them."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", populate_by_name=True)

    # Store and HTTP
    database_url: str = "sqlite+aiosqlite:///./notifier.db"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    api_token: SecretStr | None = None
    secret_key: SecretStr | None = None  # signs unsubscribe links and customer pages
    public_url: str | None = None

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
    company_support_hours: str = "Lun a vie, 9 a 18 h"
    sms_transliterate: bool = False
    max_sms_segments: int = 3
    help_text: str = (
        "Acme: mensajes sobre tus pedidos. Responde STOP para no recibir más, START para volver."
    )

    # Rules
    quiet_hours_start: str = "21:00"
    quiet_hours_end: str = "08:00"
    backfill: Duration = timedelta(hours=24)

    # Email (SMTP)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: SmtpTls = "starttls"
    smtp_timeout: Duration = timedelta(seconds=30)
    smtp_pool_size: int = 8  # connections kept open to the relay (sends in flight at once)
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
    twilio_validity_period: Duration = timedelta(hours=4)
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

    # Daemon
    scan_interval: Duration = timedelta(seconds=30)
    scan_batch_size: int = 1000
    consolidation_window: Duration = timedelta(minutes=10)
    frequency_cap: int = 3
    dispatch_concurrency: int = 64
    max_attempts: int = 8
    lease: Duration = timedelta(seconds=60)
    resend_unknown: bool = False
    shutdown_grace: Duration = timedelta(seconds=20)
    dispatch_batch_size: int = 200
    channel_probe: Duration = timedelta(minutes=5)  # a channel found down is tried again then
    ready_max_scan_failures: int = Field(default=3, ge=1)  # failed ticks in a row un-ready it

    # Sender rate limits (docs/operations.md gives the providers' figures behind them).
    rate_sms: float = 10.0  # SMS segments per second, as carriers count them
    rate_whatsapp: float = 80.0  # messages per second (Twilio's default WhatsApp throughput)
    rate_email: float = 14.0  # messages per second (a typical SMTP relay's sending rate)
    rate_x: float = 1.0  # direct messages per second
    x_daily_quota: int | None = 1440  # X Pro tier: about 1,440 direct messages a day per app

    # Logging
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @model_validator(mode="after")
    def _now_in_test_mode_only(self) -> Settings:
        if self.now is not None and not self.test_mode:
            raise ValueError("NOTIFIER_NOW is read in test mode only: set NOTIFIER_TEST_MODE=1")
        return self


def load_settings() -> Settings:
    """Return the settings read from the environment."""
    return Settings()
