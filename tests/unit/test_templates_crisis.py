"""The crisis messages (issue 18) on every channel and locale, against every sample.

Read as a customer would: an apology, what happened in the incident's own words in the
customer's language (never another language's, the templates' generic wording instead),
what it holds up, the estimate in the customer's zone, when we write again, nothing asked
of them; SMS within NOTIFIER_MAX_SMS_SEGMENTS; one register per locale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

import pytest

from notifier.domain.models import CHANNELS, ChannelName
from notifier.templates import SAMPLES, Renderer
from notifier.templates.samples import SAMPLE_NOW, sample_for
from tests.patience import PATIENT
from tests.unit.test_templates_shipped import (
    APOLOGY,
    LEFTOVER,
    LOCALES,
    MAX_SEGMENTS,
    NOT_IN,
    NOTHING_TO_DO,
    RAW,
    ROOT,
)

CRISIS = ("crisis_opened", "crisis_update", "crisis_resolved")
# The sample incident's texts (samples.py): Spanish and English only.
TEXTS = {
    "es": "Un paro de transportistas frena los envíos en AMBA.",
    "en": "A carrier strike is holding up deliveries in Buenos Aires.",
}
RESOLUTION = {
    "es": "El paro terminó y los envíos volvieron a salir.",
    "en": "The strike is over and deliveries are moving again.",
}
# When we write again, as each channel's verbosity has it (updates on email and X only).
EVERY_UPDATE = re.compile(r"con cada novedad|with every update|a cada novidade")
DATE_CHANGES = re.compile(r"si cambia la fecha|if the date changes|se a data mudar")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(ROOT, default_locale="es", max_sms_segments=MAX_SEGMENTS, limits=PATIENT)


def _context(message: str, sample: str, **incident: object) -> Mapping[str, object]:
    context = sample_for(message, SAMPLES[sample])
    if incident:
        base = context["incident"]
        assert isinstance(base, Mapping)
        context = {**context, "incident": {**base, **incident}}
    return context


def _visible(
    renderer: Renderer,
    message: str,
    channel: ChannelName,
    locale: str,
    context: Mapping[str, object],
) -> str:
    r = renderer.render(message, channel, locale, context)
    return "\n".join(p for p in (r.subject, r.text, r.html) if p)


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("message", CRISIS)
def test_reads_right_on_every_channel(
    renderer: Renderer, message: str, channel: ChannelName, locale: str, sample: str
) -> None:
    context = _context(message, sample)
    rendered = renderer.render(message, channel, locale, context)
    visible = _visible(renderer, message, channel, locale, context)
    assert rendered.text.strip()
    assert not LEFTOVER.search(visible), visible
    assert "None" not in visible, visible
    assert not RAW.search(visible), visible
    language = locale.split("-")[0]
    assert APOLOGY[language].search(visible), visible
    if channel == "sms":
        assert rendered.sms is not None and rendered.sms.segments <= MAX_SEGMENTS, (
            rendered.sms,
            rendered.text,
        )
    else:
        assert NOTHING_TO_DO[language].search(visible), visible
    if channel == "email":
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.html and "Acme &amp; Hijos" in rendered.html
    if locale in NOT_IN:
        assert not NOT_IN[locale].search(visible), visible
    # The incident's own words, in the customer's language only.
    texts = RESOLUTION if message == "crisis_resolved" else TEXTS
    if sample != "crisis_plain":
        own = texts.get(language)
        assert own is None or own in visible, visible
    for other, text in texts.items():
        if other != language:
            assert text not in visible, visible


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("message", CRISIS)
def test_the_shipped_crisis_templates_check_clean(
    renderer: Renderer, message: str, channel: ChannelName, locale: str
) -> None:
    assert renderer.check_message(message, channel, locale) == []


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", ["email", "whatsapp", "x"])
def test_the_opening_lists_every_affected_promise(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    text = _visible(renderer, "crisis_opened", channel, locale, _context("crisis_opened", "crisis"))
    assert "A-30117" in text and "A-30342" in text, text
    assert re.search(r"\b2 (de tus pedidos|of your orders|dos seus pedidos)", text), text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_the_estimate_is_in_the_customers_zone(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    # Thursday 26th 18:00 in Buenos Aires is Friday 27th 6:00 in Tokyo.
    text = _visible(
        renderer, "crisis_opened", channel, locale, _context("crisis_opened", "other_timezone")
    )
    assert re.search(r"\b27\b|11/27", text) and not re.search(r"\b26\b|11/26", text), text


@pytest.mark.parametrize("locale", LOCALES)
def test_when_we_write_again_follows_each_channels_verbosity(
    renderer: Renderer, locale: str
) -> None:
    # Updates go by email and X; SMS and WhatsApp hear of a new date and the resolution.
    for channel in CHANNELS:
        text = _visible(
            renderer, "crisis_opened", channel, locale, _context("crisis_opened", "delivery")
        )
        if channel in ("email", "x"):
            assert EVERY_UPDATE.search(text), (channel, text)
        elif channel == "whatsapp":
            assert DATE_CHANGES.search(text), (channel, text)
    every = _context("crisis_opened", "delivery", updates_on=["email", "whatsapp", "x"])
    assert EVERY_UPDATE.search(_visible(renderer, "crisis_opened", "whatsapp", locale, every))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_an_update_says_when_the_estimate_changed(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    changed = _visible(
        renderer, "crisis_update", channel, locale, _context("crisis_update", "crisis")
    )
    same = _visible(
        renderer, "crisis_update", channel, locale,
        _context("crisis_update", "crisis", estimate_changed=False),
    )  # fmt: skip
    new = re.compile(
        r"[Nn]ueva fecha|[Cc]ambió la fecha|[Nn]ew estimated|has changed|[Nn]ova|mudou"
    )
    assert new.search(changed) and not new.search(same), (changed, same)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_no_estimate_is_never_invented(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    passed = SAMPLE_NOW - timedelta(hours=1)  # an estimate that has passed is not repeated
    for estimate in (None, passed):
        context = _context("crisis_opened", "delivery", estimate_at=estimate)
        text = _visible(renderer, "crisis_opened", channel, locale, context)
        assert not re.search(r"\b24\b|11/24", text), text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_resolution_with_nothing_left_affected_still_reads_right(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    # Every promise settled before the resolution went: no promise in the context.
    context = {**_context("crisis_resolved", "crisis"), "promise": None, "others": [], "link": None}
    text = _visible(renderer, "crisis_resolved", channel, locale, context)
    assert not LEFTOVER.search(text) and "None" not in text, text
    assert APOLOGY[locale.split("-")[0]].search(text), text
    assert "A-30117" not in text


@pytest.mark.parametrize("locale", LOCALES)
def test_the_operators_text_is_escaped_in_html_and_kept_in_text(
    renderer: Renderer, locale: str
) -> None:
    # Printed through a shared macro: the html part escapes what the macro prints.
    text = "Paro & <b>corte</b> {{ 7*7 }}"
    context = _context(
        "crisis_opened", "accents", messages={locale.split("-")[0]: text}, titles={"es": "T <i>"}
    )
    rendered = renderer.render("crisis_opened", "email", locale, context)
    assert rendered.html is not None and "<b>" not in rendered.html and "<i>" not in rendered.html
    assert "Paro &amp; &lt;b&gt;corte&lt;/b&gt; {{ 7*7 }}" in rendered.html
    assert "E-55&amp;60" in rendered.html  # the promise's reference, through what()
    assert text in rendered.text and "&amp;" not in rendered.text
