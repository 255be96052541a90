"""Template filters: dates, windows, durations and money in the customer's locale and zone.

Every filter reads ``locale`` (the locale being rendered), ``customer.timezone``,
``now`` and ``currency`` from the render context, so templates never pass them.
Babel puts no-break spaces in some formats; they become plain spaces because a
single U+00A0 turns a GSM-7 SMS into UCS-2 and halves its room.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_currency
from jinja2 import pass_context
from jinja2.runtime import Context


@dataclass(frozen=True, slots=True)
class Phrases:
    """The words around dates in one language; Babel supplies the names of days and months."""

    date: str
    date_with_year: str
    short_day: str
    short_on: str  # "el {date}": the preposition before a short date
    time: str
    at: str  # "{date} a las {time}"
    at_time: str  # "a las {time}"
    window_same_day: str
    window_days: str
    today: str
    tomorrow: str
    on_day: Callable[[str, int], str]  # (formatted date, weekday) -> "el martes 24 de noviembre"
    business_days: tuple[str, str]  # singular, plural


def _es_on(text: str, weekday: int) -> str:
    return f"el {text}"


def _pt_on(text: str, weekday: int) -> str:
    # "no sábado", "no domingo", but "na segunda-feira"...
    return f"no {text}" if weekday >= 5 else f"na {text}"


def _en_on(text: str, weekday: int) -> str:
    return f"on {text}"


PHRASES: dict[str, Phrases] = {
    "es": Phrases(
        date="EEEE d 'de' MMMM",
        date_with_year="EEEE d 'de' MMMM 'de' y",
        short_day="EEEE d/M",
        short_on="el {date}",
        time="H:mm",
        at="{date} a {las} {time}",
        at_time="a {las} {time}",
        window_same_day="{date}, entre {las} {start} y {las_end} {end}",
        window_days="entre el {date} a {las} {start} y el {end_date} a {las_end} {end}",
        today="hoy",
        tomorrow="mañana",
        on_day=_es_on,
        business_days=("en {n} día hábil", "en {n} días hábiles"),
    ),
    "pt": Phrases(
        date="EEEE, d 'de' MMMM",
        date_with_year="EEEE, d 'de' MMMM 'de' y",
        short_day="d/M",
        short_on="em {date}",
        time="HH:mm",
        at="{date}, às {time}",
        at_time="às {time}",
        window_same_day="{date}, entre {start} e {end}",
        window_days="entre {date}, às {start}, e {end_date}, às {end}",
        today="hoje",
        tomorrow="amanhã",
        on_day=_pt_on,
        business_days=("em {n} dia útil", "em {n} dias úteis"),
    ),
    "en": Phrases(
        date="EEEE, MMMM d",
        date_with_year="EEEE, MMMM d, y",
        short_day="EEE M/d",
        short_on="on {date}",
        time="h:mm a",
        at="{date} at {time}",
        at_time="at {time}",
        window_same_day="{date}, between {start} and {end}",
        window_days="between {date} at {start} and {end_date} at {end}",
        today="today",
        tomorrow="tomorrow",
        on_day=_en_on,
        business_days=("in {n} business day", "in {n} business days"),
    ),
}


def _plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def _locale_tag(ctx: Context) -> str:
    return str(ctx.get("locale") or "en")


def _babel_locale(ctx: Context) -> Locale:
    return _parse_locale(_locale_tag(ctx))


@lru_cache(maxsize=64)  # a few locales, asked for by several filters in every message
def _parse_locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en")


def _phrases(ctx: Context) -> Phrases:
    return PHRASES.get(_babel_locale(ctx).language, PHRASES["en"])


def _zone(ctx: Context) -> ZoneInfo:
    customer = ctx.get("customer")
    name = customer.get("timezone") if isinstance(customer, Mapping) else None
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo("UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _local(ctx: Context, value: datetime) -> datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(_zone(ctx))


def _today(ctx: Context) -> date:
    now = ctx.get("now")
    return _local(ctx, now if isinstance(now, datetime) else datetime.now(UTC)).date()


def _date_text(ctx: Context, local: datetime) -> str:
    p = _phrases(ctx)
    pattern = p.date if local.year == _today(ctx).year else p.date_with_year
    return _formatted_date(local.date(), pattern, _locale_tag(ctx))


@lru_cache(maxsize=4096)  # the messages sent in a while name the same few days
def _formatted_date(day: date, pattern: str, tag: str) -> str:
    # format_date reads only the date of a datetime: the day, pattern and locale decide it.
    return _plain(format_date(day, pattern, locale=_parse_locale(tag)))


def _time_text(ctx: Context, local: datetime) -> str:
    return _formatted_time(local.hour, local.minute, _phrases(ctx).time, _locale_tag(ctx))


@lru_cache(maxsize=4096)  # 1,440 minutes in a day, a few locales
def _formatted_time(hour: int, minute: int, pattern: str, tag: str) -> str:
    # The patterns in PHRASES read the hour and minute alone (no seconds, no zone name).
    return _plain(format_time(time(hour, minute), pattern, locale=_parse_locale(tag)))


def _las(local: datetime) -> str:
    # Spanish says "a la 1:00" but "a las 9:00".
    return "la" if local.hour == 1 else "las"


@pass_context
def date_filter(ctx: Context, value: datetime) -> str:
    """'martes 24 de noviembre' in the customer's zone (with the year when not this year)."""
    return _date_text(ctx, _local(ctx, value))


@pass_context
def short_date_filter(ctx: Context, value: datetime) -> str:
    """A compact date for SMS: '24/11' (es, pt), '11/24' (en)."""
    local = _local(ctx, value)
    lang = _babel_locale(ctx).language
    return f"{local.month}/{local.day}" if lang == "en" else f"{local.day}/{local.month}"


@pass_context
def time_filter(ctx: Context, value: datetime) -> str:
    """'9:00' (es), '09:00' (pt), '9:00 AM' (en) in the customer's zone."""
    return _time_text(ctx, _local(ctx, value))


@pass_context
def at_time_filter(ctx: Context, value: datetime) -> str:
    """'a las 9:00', 'a la 1:00', 'at 9:00 AM', 'às 09:00' in the customer's zone."""
    local = _local(ctx, value)
    return _phrases(ctx).at_time.format(time=_time_text(ctx, local), las=_las(local))


@pass_context
def datetime_filter(ctx: Context, value: datetime) -> str:
    """'martes 24 de noviembre a las 9:00' in the customer's zone."""
    local = _local(ctx, value)
    return _phrases(ctx).at.format(
        date=_date_text(ctx, local), time=_time_text(ctx, local), las=_las(local)
    )


@pass_context
def window_filter(ctx: Context, start: datetime, end: datetime) -> str:
    """'martes 24 de noviembre, entre las 9:00 y las 12:00' for ``start | window(end)``."""
    a, b = _local(ctx, start), _local(ctx, end)
    template = _phrases(ctx).window_same_day if a.date() == b.date() else _phrases(ctx).window_days
    return template.format(
        date=_date_text(ctx, a),
        end_date=_date_text(ctx, b),
        start=_time_text(ctx, a),
        end=_time_text(ctx, b),
        las=_las(a),
        las_end=_las(b),
    )


@pass_context
def day_filter(ctx: Context, value: datetime) -> str:
    """'hoy', 'mañana' or 'el martes 24 de noviembre', in the customer's zone."""
    local = _local(ctx, value)
    p = _phrases(ctx)
    days = (local.date() - _today(ctx)).days
    if days == 0:
        return p.today
    if days == 1:
        return p.tomorrow
    return p.on_day(_date_text(ctx, local), local.weekday())


@pass_context
def short_day_filter(ctx: Context, value: datetime) -> str:
    """The SMS form of ``day``: 'hoy', 'mañana', 'el jueves 26/11', 'on Thu 11/26', 'em 26/11'."""
    local = _local(ctx, value)
    p = _phrases(ctx)
    days = (local.date() - _today(ctx)).days
    if days in (0, 1):
        return p.today if days == 0 else p.tomorrow
    text = _formatted_date(local.date(), p.short_day, _locale_tag(ctx))
    return p.short_on.format(date=text)


@pass_context
def days_away_filter(ctx: Context, value: datetime) -> int:
    """Whole days from today to ``value`` in the customer's zone: 0 today, 1 tomorrow, -1 ..."""
    return (_local(ctx, value).date() - _today(ctx)).days


@pass_context
def duration_filter(ctx: Context, value: timedelta) -> str:
    """'2 días', '3 horas', '45 minutos': the largest sensible unit, in the locale."""
    return _plain(format_timedelta(value, threshold=1.5, locale=_babel_locale(ctx)))


@pass_context
def business_days_filter(ctx: Context, value: int) -> str:
    """'en 2 días hábiles', 'in 1 business day', 'em 3 dias úteis'."""
    one, many = _phrases(ctx).business_days
    return (one if int(value) == 1 else many).format(n=int(value))


@pass_context
def money_filter(ctx: Context, amount: float | int | str, currency: str | None = None) -> str:
    """The amount in ``currency`` (default: the context's), formatted for the locale."""
    code = currency or str(ctx.get("currency") or "USD")
    return _plain(format_currency(Decimal(str(amount)), code, locale=_babel_locale(ctx)))


FILTERS: dict[str, Callable[..., str | int]] = {
    "days_away": days_away_filter,
    "date": date_filter,
    "short_date": short_date_filter,
    "time": time_filter,
    "at_time": at_time_filter,
    "datetime": datetime_filter,
    "window": window_filter,
    "day": day_filter,
    "short_day": short_day_filter,
    "duration": duration_filter,
    "business_days": business_days_filter,
    "money": money_filter,
}
