"""The one table of channels: which are configured, which are not and why, which are console."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from notifier.channels.base import Channel
from notifier.channels.console import ConsoleChannel
from notifier.channels.smtp import SmtpEmail, SmtpSettings
from notifier.channels.twilio_api import TwilioCredentials
from notifier.channels.twilio_sms import SmsSettings, TwilioSms
from notifier.channels.twilio_whatsapp import TwilioWhatsApp, WhatsAppSettings
from notifier.channels.x_dm import OAuth1Credentials, XDirectMessage, XSettings
from notifier.channels.x_oauth2 import OAuth2Token
from notifier.config import ProviderSettings, TwilioSettings
from notifier.domain.models import CHANNELS, ChannelName

State = Literal["configured", "unavailable", "console"]


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    name: ChannelName
    state: State
    provider: str
    sender: str = ""  # the number, address or account messages come from
    reason: str = ""  # why the channel is unavailable

    def describe(self) -> str:
        """Return one line for start-up logs and ``notifier channels``."""
        if self.state == "configured":
            return f"{self.name}: {self.provider}, from {self.sender}"
        if self.state == "console":
            return f"{self.name}: console (demo mode; {self.reason})"
        return f"{self.name}: unavailable: {self.reason}"


@dataclass(slots=True)
class Channels:
    """The channels that can send now, and the status of all four."""

    active: dict[ChannelName, Channel] = field(default_factory=dict)
    statuses: dict[ChannelName, ChannelStatus] = field(default_factory=dict)

    def available(self) -> frozenset[ChannelName]:
        """Return the channels routing may choose (console ones included in demo mode)."""
        return frozenset(self.active)

    def get(self, name: ChannelName) -> Channel | None:
        """Return the channel called ``name``, or None when it is unavailable."""
        return self.active.get(name)

    def __iter__(self) -> Iterator[ChannelStatus]:
        return iter(self.statuses[name] for name in CHANNELS)

    async def aclose(self) -> None:
        """Close every channel's pooled connections."""
        for channel in self.active.values():
            await channel.aclose()


def build_channels(providers: ProviderSettings, *, demo: bool) -> Channels:
    """Return every channel: configured, console in its place in demo mode, or unavailable."""
    channels = Channels()
    for name in CHANNELS:
        built = _BUILDERS[name](providers)
        if isinstance(built, str):
            if demo:
                channels.active[name] = ConsoleChannel(name)
                channels.statuses[name] = ChannelStatus(name, "console", "console", reason=built)
            else:
                channels.statuses[name] = ChannelStatus(name, "unavailable", "", reason=built)
            continue
        channel, status = built
        channels.active[name] = channel
        channels.statuses[name] = status
    return channels


Built = tuple[Channel, ChannelStatus] | str


def _missing(names: Mapping[str, object]) -> str:
    return "set " + ", ".join(env for env, value in names.items() if not value)


def _twilio(s: TwilioSettings) -> TwilioCredentials | str:
    if not (s.twilio_account_sid and s.twilio_auth_token):
        return _missing(
            {"TWILIO_ACCOUNT_SID": s.twilio_account_sid, "TWILIO_AUTH_TOKEN": s.twilio_auth_token}
        )
    return TwilioCredentials(
        s.twilio_account_sid, s.twilio_auth_token.get_secret_value(), s.twilio_base_url
    )


def _sms(p: ProviderSettings) -> Built:
    s = p.twilio
    credentials = _twilio(s)
    if isinstance(credentials, str):
        return credentials
    if not (s.twilio_from or s.twilio_messaging_service_sid):
        return "set NOTIFIER_TWILIO_FROM or NOTIFIER_TWILIO_MESSAGING_SERVICE_SID"
    sms = SmsSettings(
        credentials, s.twilio_from, s.twilio_messaging_service_sid, s.twilio_validity_period
    )
    channel = TwilioSms(sms, pool_size=max(100, p.dispatch_concurrency))
    return channel, ChannelStatus("sms", "configured", "twilio", sms.sender())


def _whatsapp(p: ProviderSettings) -> Built:
    s = p.twilio
    credentials = _twilio(s)
    if isinstance(credentials, str):
        return credentials
    if not s.twilio_whatsapp_from:
        return "set NOTIFIER_TWILIO_WHATSAPP_FROM"
    wa = WhatsAppSettings(
        credentials, s.twilio_whatsapp_from, s.twilio_validity_period, s.whatsapp_content_sids
    )
    channel = TwilioWhatsApp(wa, pool_size=max(100, p.dispatch_concurrency))
    templates = len(wa.content_sids)
    sender = f"{s.twilio_whatsapp_from} ({templates} content templates)"
    return channel, ChannelStatus("whatsapp", "configured", "twilio", sender)


def _email(p: ProviderSettings) -> Built:
    s = p.email
    if not (s.smtp_host and s.email_from):
        return _missing({"NOTIFIER_SMTP_HOST": s.smtp_host, "NOTIFIER_EMAIL_FROM": s.email_from})
    if s.smtp_username and s.smtp_password is None:
        return "NOTIFIER_SMTP_USERNAME is set without NOTIFIER_SMTP_PASSWORD"
    smtp = SmtpSettings(
        host=s.smtp_host,
        port=s.smtp_port,
        email_from=s.email_from,
        tls=s.smtp_tls,
        username=s.smtp_username,
        password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        reply_to=s.email_reply_to,
        timeout=s.smtp_timeout,
        ca_file=s.smtp_ca_file,
        pool_size=max(1, s.smtp_pool_size),
    )
    where = f"{s.email_from} via {s.smtp_host}:{s.smtp_port} ({s.smtp_tls})"
    return SmtpEmail(smtp), ChannelStatus("email", "configured", "smtp", where)


def _x(p: ProviderSettings) -> Built:
    s = p.x
    quartet = {
        "NOTIFIER_X_CONSUMER_KEY": s.x_consumer_key,
        "NOTIFIER_X_CONSUMER_SECRET": s.x_consumer_secret,
        "NOTIFIER_X_ACCESS_TOKEN": s.x_access_token,
        "NOTIFIER_X_ACCESS_TOKEN_SECRET": s.x_access_token_secret,
    }
    pool = max(100, p.dispatch_concurrency)
    if all(quartet.values()):
        assert s.x_consumer_key and s.x_consumer_secret  # narrowed by all() above
        assert s.x_access_token and s.x_access_token_secret
        oauth1 = OAuth1Credentials(
            s.x_consumer_key,
            s.x_consumer_secret.get_secret_value(),
            s.x_access_token,
            s.x_access_token_secret.get_secret_value(),
        )
        channel = XDirectMessage(XSettings(oauth1=oauth1, base_url=s.x_base_url, pool_size=pool))
        return channel, ChannelStatus("x", "configured", "x (OAuth 1.0a)", s.x_access_token)
    if any(quartet.values()):
        return "incomplete OAuth 1.0a credentials: " + _missing(quartet)
    if s.x_bearer_token and s.x_client_id and s.x_refresh_token:
        oauth2 = OAuth2Token(
            s.x_bearer_token.get_secret_value(),
            s.x_client_id,
            s.x_refresh_token.get_secret_value(),
            s.x_client_secret.get_secret_value() if s.x_client_secret else None,
        )
        channel = XDirectMessage(XSettings(oauth2=oauth2, base_url=s.x_base_url, pool_size=pool))
        return channel, ChannelStatus("x", "configured", "x (OAuth 2.0 user)", s.x_client_id)
    if s.x_bearer_token:
        return (
            "NOTIFIER_X_BEARER_TOKEN alone is an app-only token, which cannot send direct "
            "messages: set the OAuth 1.0a quartet, or add NOTIFIER_X_CLIENT_ID and "
            "NOTIFIER_X_REFRESH_TOKEN for an OAuth 2.0 user token"
        )
    return "set the OAuth 1.0a quartet (NOTIFIER_X_CONSUMER_KEY ...) or an OAuth 2.0 user token"


_BUILDERS = {"sms": _sms, "whatsapp": _whatsapp, "email": _email, "x": _x}
