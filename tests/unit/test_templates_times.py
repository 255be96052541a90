"""Times of day in messages: the remembered formatting agrees with Babel's, minute by minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_time

from notifier.templates.filters import PHRASES, _formatted_time, _parse_locale, _plain

TAGS = ["es", "es-AR", "pt-BR", "en"]


@pytest.mark.parametrize("tag", TAGS)
def test_every_minute_of_a_day_reads_as_babel_writes_it(tag: str) -> None:
    zone = ZoneInfo("America/Argentina/Buenos_Aires")
    start = datetime(2026, 11, 24, 3, 0, 17, tzinfo=UTC).astimezone(zone)
    locale = _parse_locale(tag)
    pattern = PHRASES.get(locale.language, PHRASES["en"]).time
    for minute in range(24 * 60):
        local = start + timedelta(minutes=minute)
        expected = _plain(format_time(local, pattern, locale=locale))
        assert _formatted_time(local.hour, local.minute, pattern, tag) == expected, local
