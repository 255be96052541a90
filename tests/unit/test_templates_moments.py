"""What issue 22's moments (helper B) tell the customer, on every channel and locale.

The every-message test (test_templates_shipped.py) checks segments, apologies, register
and raw identifiers; here, the facts each moment exists to give.
"""

from __future__ import annotations

import re

import pytest

from notifier.domain.models import CHANNELS, ChannelName
from notifier.templates import SAMPLES, Renderer
from tests.patience import PATIENT
from tests.unit.test_templates_shipped import LOCALES, ROOT, _visible


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(ROOT, default_locale="es", max_sms_segments=2, limits=PATIENT)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_the_reminder_says_when_where_and_what_to_bring(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    text = _visible(renderer, "medical_reminder", channel, locale, "medical")
    assert re.search(r"9:30", text), text
    assert "DNI, credencial y estudios previos" in text, text  # short enough for an SMS too
    if channel != "sms":
        assert "Sede Belgrano, Av. Cabildo 2040" in text and "Cardiología" in text, text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_the_complaint_is_answered_by_a_date(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    received = _visible(renderer, "complaint_received", channel, locale, "complaint")
    assert "RC-73104" in received and re.search(r"27|November 27", received), received
    late = _visible(renderer, "complaint_late", channel, locale, "complaint")
    assert re.search(r"30", late), late  # the new date we answer by


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_second_slip_of_a_repair_says_so(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    context = SAMPLES["repair"]
    once = _visible(renderer, "repair_late", channel, locale, context)
    again_word = {
        "es": r"otra vez|segunda fecha",
        "en": r"again|second date",
        "pt": r"de novo|segunda data",
    }
    assert not re.search(again_word[locale.split("-")[0]], once), once
    promise = context["promise"]
    assert isinstance(promise, dict)
    twice = {**context, "promise": {**promise, "times_broken": 2}}
    text = _visible(renderer, "repair_late", channel, locale, twice)
    assert re.search(again_word[locale.split("-")[0]], text), text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_person_calls_by_an_hour(renderer: Renderer, channel: ChannelName, locale: str) -> None:
    text = _visible(renderer, "callback_person", channel, locale, "person")
    assert re.search(r"antes de las 18:00|by 6:00 PM|até as 18:00", text), text
