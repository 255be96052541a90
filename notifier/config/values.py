"""The value types settings are read as: durations, ports, counts, rates, texts per locale.

Each one's check words its own problem ("is not a duration (e.g. 30s, 5m)"); the settings
module names the variable (notifier/config_errors.py).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import NoDecode
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from notifier.domain.durations import DurationError, parse_duration
from notifier.domain.local_text import EVERY_LOCALE
from notifier.schemas import check_locale

# The drivers notifier ships and tests; the URL's scheme must name one of them.
DATABASES = ("sqlite+aiosqlite", "postgresql+asyncpg")
_SUPPORTED = (
    "notifier supports sqlite+aiosqlite:///path/to/notifier.db and "
    "postgresql+asyncpg://user:password@host:port/db"
)
_DRIVER_HINTS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg",
                 "postgres": "postgresql+asyncpg"}  # fmt: skip


def _duration(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return parse_duration(value)
    except DurationError:
        raise ValueError("is not a duration (e.g. 30s, 5m)") from None


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


# A shorter retention would empty the history ops read to answer "why did this go out"
# before a late receipt or a complaint arrives.
MIN_RETENTION = timedelta(days=1)
# A longer one would put the purge's cutoff before year 1 (10 years is also the rules' cap).
MAX_RETENTION = timedelta(days=3650)


def _retention(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() == "off":
        return None
    parsed = _duration(value)
    if isinstance(parsed, timedelta) and parsed < MIN_RETENTION:
        raise ValueError("must be at least 1d, or off to keep everything")
    if isinstance(parsed, timedelta) and parsed > MAX_RETENTION:
        raise ValueError("must be at most 3650d, or off to keep everything")
    return parsed


def _signed_duration(value: object) -> object:
    if isinstance(value, str) and value.strip().startswith("-"):
        parsed = _duration(value.strip()[1:])
        return -parsed if isinstance(parsed, timedelta) else parsed
    return _duration(value)


def _local_text(value: object) -> object:
    # A plain string is every locale's text; a JSON object gives one text per locale tag.
    if isinstance(value, dict):
        found: object = value
    elif isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            found = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"is not valid JSON ({exc.msg} at character {exc.pos}): write a plain text, "
                'or {"es": "...", "en": "...", "pt-BR": "..."}'
            ) from None
    elif isinstance(value, str):
        return {EVERY_LOCALE: value}
    else:
        raise ValueError("is not text")
    if not isinstance(found, dict) or not found:
        raise ValueError('must be a text or a JSON object such as {"es": "...", "en": "..."}')
    for tag, text in found.items():
        if not isinstance(text, str):
            raise ValueError(f"gives {tag!r} a value that is not text")
        if tag != EVERY_LOCALE:
            try:
                check_locale(tag)
            except ValueError:
                msg = f"names {tag!r}, which is not a locale (e.g. es, en, pt-BR)"
                raise ValueError(msg) from None
    return found


Duration = Annotated[timedelta, BeforeValidator(_duration)]
SignedDuration = Annotated[timedelta, BeforeValidator(_signed_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
Retention = Annotated[timedelta | None, BeforeValidator(_retention)]  # None: off
Port = Annotated[int, Field(ge=1, le=65535)]
ListenPort = Annotated[int, Field(ge=0, le=65535)]  # 0: any free port, announced at start
Count = Annotated[int, Field(ge=1)]  # sizes and limits: zero would stall the daemon
Rate = Annotated[float, Field(gt=0, allow_inf_nan=False)]
LocalText = Annotated[dict[str, str], NoDecode, BeforeValidator(_local_text)]
SmtpTls = Literal["none", "starttls", "implicit"]


def check_database_url(url: str) -> str:
    """Return ``url`` when notifier has its driver; else say which one to write."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(f"is not a database URL: {_SUPPORTED}") from None
    if parsed.drivername in DATABASES:
        return url
    hint = _DRIVER_HINTS.get(parsed.drivername.split("+")[0])
    if hint is None:
        raise ValueError(f"is not a supported database: {_SUPPORTED}")
    fixed = parsed.set(drivername=hint).render_as_string(hide_password=True)
    raise ValueError(f"is not a supported database: {_SUPPORTED} (here: {fixed})")


def check_http_url(url: str) -> str:
    """Return ``url`` when it is an absolute http(s) URL with a host."""
    parsed = urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("is not an http:// or https:// URL with a host")
    return url.strip()
