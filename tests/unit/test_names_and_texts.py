"""Given names from a full name, and company texts per locale (NOTIFIER_* settings)."""

from __future__ import annotations

import pytest

from notifier.config import Settings, load_settings
from notifier.config_errors import SettingsError
from notifier.domain.local_text import EVERY_LOCALE, text_for
from notifier.domain.names import given_names


@pytest.mark.parametrize(
    ("full", "given"),
    [
        pytest.param("María José O'Connor-Núñez de Etcheverría", "María José", id="compound"),
        pytest.param("Juan Pablo Martínez Sosa", "Juan Pablo", id="juan-pablo"),
        pytest.param("María José", "María José", id="compound-alone"),
        pytest.param("João Pedro Silva", "João Pedro", id="portuguese"),
        pytest.param("María del Carmen Pérez", "María del Carmen", id="connector"),
        pytest.param("María de los Ángeles Díaz", "María de los Ángeles", id="connectors"),
        pytest.param("Lucía Fernández Aguirre", "Lucía", id="two-surnames"),
        pytest.param("Diego Ruiz", "Diego", id="one-surname"),
        pytest.param("Carlos José", "Carlos", id="surname-that-is-a-name"),
        pytest.param("Kenji", "Kenji", id="one-word"),
        pytest.param("  ", "", id="blank"),
    ],
)
def test_given_names(full: str, given: str) -> None:
    assert given_names(full) == given


HOURS = {"es": "lun. a vie.", "en": "Mon-Fri", "pt-BR": "seg. a sex."}


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        pytest.param("es-AR", "lun. a vie.", id="language"),
        pytest.param("en-GB", "Mon-Fri", id="english-variant"),
        pytest.param("pt", "seg. a sex.", id="sibling"),
        pytest.param("pt_BR", "seg. a sex.", id="underscore"),
        pytest.param("fr", "lun. a vie.", id="default-locale"),
    ],
)
def test_text_for_a_locale(locale: str, expected: str) -> None:
    assert text_for(HOURS, locale, "es") == expected


def test_a_plain_string_is_every_locales() -> None:
    assert text_for({EVERY_LOCALE: "9-18"}, "pt-BR", "es") == "9-18"
    assert text_for("9-18", "en") == "9-18"


def test_settings_accept_a_plain_string_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_COMPANY_SUPPORT_HOURS", "9 a 18 h")
    assert load_settings().company_support_hours == {EVERY_LOCALE: "9 a 18 h"}
    monkeypatch.setenv("NOTIFIER_COMPANY_SUPPORT_HOURS", '{"es": "9 a 18 h", "en": "9-6"}')
    assert load_settings().company_support_hours == {"es": "9 a 18 h", "en": "9-6"}
    monkeypatch.setenv("NOTIFIER_HELP_TEXT", '{"en": "Reply STOP"}')
    assert load_settings().help_text == {"en": "Reply STOP"}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param('{"es": "9 a 18"', "is not valid JSON", id="bad-json"),
        pytest.param('{"es": 9}', "gives 'es' a value that is not text", id="not-text"),
        pytest.param('{"zz-top": "x"}', "names 'zz-top', which is not a locale", id="locale"),
        pytest.param("{}", "must be a text or a JSON object", id="empty"),
    ],
)
def test_bad_company_texts_are_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str, error: str
) -> None:
    monkeypatch.setenv("NOTIFIER_COMPANY_SUPPORT_HOURS", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    [problem] = caught.value.problems
    assert problem.startswith("NOTIFIER_COMPANY_SUPPORT_HOURS: ") and error in problem


def test_default_hours_name_the_time_zone() -> None:
    hours = Settings().company_support_hours
    assert hours["es"] == "lun. a vie., 9 a 18 h (hora de Buenos Aires)"
    assert "Buenos Aires time" in hours["en"] and "horário de Buenos Aires" in hours["pt-BR"]
    assert Settings().max_sms_segments == 2
