"""Settings from the environment (prefix ``NOTIFIER_``), read once at start-up.

``Settings`` (settings.py) is the one parser of the environment: every variable, its
default and its check. Its groups (groups.py: ``settings.email``, ``settings.dispatch``,
``settings.render`` ...) are what the channels, the templates and the engine take, each
only the part it needs. fields.py holds the value types (durations, ports, rates ...).
"""

from notifier.config.groups import (
    ClockSettings,
    DigestSettings,
    DispatchSettings,
    EmailSettings,
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
)
from notifier.config.settings import LOG_LEVELS, Settings, load_settings
from notifier.config.values import (
    DATABASES,
    Count,
    Duration,
    ListenPort,
    LocalText,
    Port,
    PositiveDuration,
    Rate,
    SignedDuration,
    SmtpTls,
)

__all__ = [
    "DATABASES",
    "LOG_LEVELS",
    "ClockSettings",
    "Count",
    "DigestSettings",
    "DispatchSettings",
    "Duration",
    "EmailSettings",
    "HttpSettings",
    "LinkSettings",
    "ListenPort",
    "LocalText",
    "MessageSettings",
    "Port",
    "PositiveDuration",
    "ProviderSettings",
    "PurgeSettings",
    "Rate",
    "RateSettings",
    "RenderSettings",
    "RuleSettings",
    "ScanSettings",
    "Settings",
    "SignedDuration",
    "SmtpTls",
    "TwilioSettings",
    "XDmSettings",
    "load_settings",
]
