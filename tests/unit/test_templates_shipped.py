"""Every shipped message, on every channel and locale, against every sample context.

What a customer reads is checked as a copywriter would: SMS within
NOTIFIER_MAX_SMS_SEGMENTS in its natural encoding, an apology where something went
wrong, no template syntax and no raw identifiers left, one register per locale (es-AR
voseo, es tú), and the customer's full given names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from notifier.domain.models import CHANNELS, ChannelName
from notifier.domain.ops_notices import OPS_MESSAGES
from notifier.templates import SAMPLES, Renderer, count_segments
from notifier.templates.diagnostics import TWILIO_MAX_CHARS
from tests.patience import PATIENT

ROOT = Path(__file__).resolve().parents[2] / "templates"
MAX_SEGMENTS = 2  # NOTIFIER_MAX_SMS_SEGMENTS default
LOCALES = ("es", "es-AR", "en", "pt-BR")
# Issue 22, helper B: medical appointment, complaint, repair, technician no-show, a person
# calls. The good news among them (a reminder, a resolution, a repair ready) owes no apology.
MOMENTS_B = (
    "medical_moved",
    "medical_cancelled",
    "medical_reminder",
    "complaint_received",
    "complaint_late",
    "complaint_resolved",
    "repair_late",
    "repair_ready",
    "technician_no_show",
    "callback_person",
)
GOOD_NEWS_B = ("medical_reminder", "complaint_resolved", "repair_ready")
KINDS_B = {
    "medical_moved": ("medical_appointment",),
    "medical_cancelled": ("medical_appointment",),
    "medical_reminder": ("medical_appointment",),
    "complaint_received": ("complaint",),
    "complaint_late": ("complaint",),
    "complaint_resolved": ("complaint",),
    "repair_late": ("device_repair",),
    "repair_ready": ("device_repair",),
    "technician_no_show": ("appointment", "repair"),
    "callback_person": ("callback",),
}
CUSTOMER_MESSAGES = (
    "delivery_at_risk",
    "delivery_late",
    "refund_late",
    "callback_missed",
    "appointment_rescheduled",
    "promise_kept",
    "several_late",
    "still_late",
    "late_person",
    *MOMENTS_B,
)
SOMETHING_WENT_WRONG = tuple(
    m for m in CUSTOMER_MESSAGES if m != "promise_kept" and m not in GOOD_NEWS_B
)
# Issue 22, helper A: bills, payments, a late card, an order we cancelled.
MOMENTS_A = (
    "bill_late",
    "bill_still_late",
    "bill_wrong",
    "bill_corrected",
    "payment_failed",
    "payment_received",
    "card_late",
    "card_still_late",
    "cancelled_by_us",
)
CLOSING_A = ("bill_corrected", "payment_received")  # thanks that close the loop
# Not always our failure (an expired card): an apology when it is, what to do otherwise;
# tested on its own below.
NOT_ALWAYS_OURS_A = ("payment_failed",)
CUSTOMER_MESSAGES = (*CUSTOMER_MESSAGES, *MOMENTS_A)
SOMETHING_WENT_WRONG = tuple(
    m
    for m in CUSTOMER_MESSAGES
    if m != "promise_kept" and m not in GOOD_NEWS_B + CLOSING_A + NOT_ALWAYS_OURS_A
)
MESSAGES = (*CUSTOMER_MESSAGES, "escalation")
APOLOGY = {
    "es": re.compile(r"perd[oó]n|disculp|lamentamos", re.I),
    "en": re.compile(r"sorry|apolog", re.I),
    "pt": re.compile(r"desculp|lamentamos", re.I),
}
NOTHING_TO_DO = {
    "es": re.compile(r"no necesitas hacer nada|no ten[eé]s que hacer nada", re.I),
    "en": re.compile(r"(you don.t|no) need to do anything", re.I),
    "pt": re.compile(r"n[aã]o precisa fazer nada", re.I),
}
LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
# Values upstream sends as identifiers, never words for a customer.
RAW = re.compile(r"correo_argentino|servientrega|\bandreani\b|\bcallback-\d+")
RAW_KIND = re.compile(r"\b(delivery|refund|callback|appointment)\b")  # outside English text
# The kinds each message is written for: other samples render, but say what a kind's
# own message would not (a delivery message names a callback's raw external ref).
KINDS = {
    "delivery_at_risk": ("delivery",),
    "delivery_late": ("delivery",),
    "refund_late": ("refund",),
    "callback_missed": ("callback",),
    "appointment_rescheduled": ("appointment",),
    "still_late": ("delivery", "refund"),
    "late_person": ("delivery", "refund"),
    "promise_kept": ("delivery", "refund"),
    **KINDS_B,
}
KINDS.update(  # issue 22, helper A
    {
        "bill_late": ("bill",),
        "bill_still_late": ("bill",),
        "bill_wrong": ("bill",),
        "bill_corrected": ("bill",),
        "payment_failed": ("payment",),
        "payment_received": ("payment",),
        "card_late": ("card",),
        "card_still_late": ("card",),
        "cancelled_by_us": ("delivery",),
    }
)
# One register per locale: es-AR is voseo everywhere, es is tú.
NOT_IN = {
    "es-AR": re.compile(
        r"\b(puedes|tienes|necesitas|quieres|prefieres|por ti|contigo|reembolso)\b"
    ),
    "es": re.compile(r"\b(tenés|podés|querés|preferís|necesitás|respondé|entrá|seguí|con vos)\b"),
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(ROOT, default_locale="es", max_sms_segments=MAX_SEGMENTS, limits=PATIENT)


def _visible(
    renderer: Renderer,
    message: str,
    channel: ChannelName,
    locale: str,
    sample: str | Mapping[str, object],
) -> str:
    """What the customer sees: ``sample`` is a sample's name, or a context of its own."""
    context = SAMPLES[sample] if isinstance(sample, str) else sample
    rendered = renderer.render(message, channel, locale, context)
    return "\n".join(p for p in (rendered.subject, rendered.text, rendered.html) if p)


def test_every_message_is_shipped(renderer: Renderer) -> None:
    assert set(MESSAGES) <= set(renderer.messages())
    assert {"es", "es-AR", "en", "pt-BR"} <= set(renderer.locales())


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("locale", ["es", "en", "pt-BR"])
def test_a_template_of_its_own_for_each_language(
    renderer: Renderer, message: str, channel: ChannelName, locale: str
) -> None:
    path = renderer.template_path(message, channel, locale)
    assert path is not None and path.name == f"{channel}.{locale}.j2"


@pytest.mark.parametrize("message", CUSTOMER_MESSAGES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_argentine_variants_for_customer_messages(
    renderer: Renderer, message: str, channel: ChannelName
) -> None:
    path = renderer.template_path(message, channel, "es-AR")
    assert path is not None and path.name == f"{channel}.es-AR.j2"


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("message", MESSAGES)
def test_renders_cleanly(
    renderer: Renderer, message: str, channel: ChannelName, locale: str, sample: str
) -> None:
    rendered = renderer.render(message, channel, locale, SAMPLES[sample])
    visible = _visible(renderer, message, channel, locale, sample)
    assert rendered.text.strip()
    assert not LEFTOVER.search(visible), visible
    assert "None" not in visible, visible
    assert "&amp;" not in rendered.text and "&#39;" not in rendered.text
    if channel == "email":
        assert rendered.subject and "\n" not in rendered.subject and "&amp;" not in rendered.subject
        assert rendered.html and "Acme &amp; Hijos" in rendered.html
    if channel == "sms":
        assert rendered.sms is not None
        assert len(rendered.text) <= TWILIO_MAX_CHARS
        if message in CUSTOMER_MESSAGES:  # escalations reach ops by email only
            assert rendered.sms.segments <= MAX_SEGMENTS, (rendered.sms, rendered.text)
    language = locale.split("-")[0]
    if message in SOMETHING_WENT_WRONG:
        assert APOLOGY[language].search(visible), visible
    # An SMS has room for the apology, the facts and the link: the reassurance that
    # nothing is asked of the customer is on every other channel.
    if message in SOMETHING_WENT_WRONG and channel != "sms" and message != "late_person":
        assert NOTHING_TO_DO[language].search(visible), visible


def _sample_kind(sample: str) -> str:
    promise = SAMPLES[sample]["promise"]
    assert isinstance(promise, dict)
    return str(promise["kind"])


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("message", CUSTOMER_MESSAGES)
def test_reads_right_to_a_customer(
    renderer: Renderer, message: str, channel: ChannelName, locale: str, sample: str
) -> None:
    visible = _visible(renderer, message, channel, locale, sample)
    if channel == "sms":
        rendered = renderer.render(message, channel, locale, SAMPLES[sample])
        assert rendered.sms is not None and rendered.sms.segments <= MAX_SEGMENTS, (
            rendered.sms,
            rendered.text,
        )
    if _sample_kind(sample) in KINDS.get(message, (_sample_kind(sample),)):
        assert not RAW.search(visible), visible
        if not locale.startswith("en"):
            assert not RAW_KIND.search(visible), visible
    if locale in NOT_IN:
        assert not NOT_IN[locale].search(visible), visible
    customer = SAMPLES[sample]["customer"]
    assert isinstance(customer, dict)
    if customer["first_name"]:
        assert customer["first_name"] in visible, visible


def test_given_names_are_whole() -> None:
    accents, slipped = SAMPLES["accents"]["customer"], SAMPLES["slipped"]["customer"]
    assert isinstance(accents, dict) and isinstance(slipped, dict)
    assert (accents["first_name"], slipped["first_name"]) == ("María José", "Juan Pablo")


def test_samples_are_realistic_not_trimmed() -> None:
    accents, delivery = SAMPLES["accents"], SAMPLES["delivery"]
    assert len(str(accents["customer"]["name"])) == 40  # type: ignore[index]  # a dict
    assert len(str(delivery["promise"]["reference"])) == 24  # type: ignore[index]  # a dict
    assert len(str(delivery["link"])) == 30


def test_carriers_and_items_read_as_words(renderer: Renderer) -> None:
    text = _visible(renderer, "delivery_late", "email", "es", "delivery")
    assert "tu pedido de zapatillas Topper (ML-20261120-000104329-AR)" in text, text
    text = _visible(renderer, "still_late", "email", "es-AR", "delivery")
    assert "Correo Argentino" in text, text
    text = _visible(renderer, "still_late", "whatsapp", "pt-BR", "accents")
    assert "Servientrega" in text, text


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("locale", LOCALES)
def test_a_new_estimate_that_slipped_says_so(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    # The estimate (Monday 23rd) has passed: neither message may promise it again.
    for message in ("delivery_late", "still_late"):
        text = _visible(renderer, message, channel, locale, "slipped")
        assert not re.search(r"(Llega|arrive|Chega) (el |on |dia )?(11/)?23", text), text
    text = _visible(renderer, "still_late", channel, locale, "slipped")
    assert re.search(r"23", text), text


@pytest.mark.parametrize("locale", LOCALES)
def test_support_hours_are_the_locales_and_name_the_time_zone(
    renderer: Renderer, locale: str
) -> None:
    text = _visible(renderer, "delivery_late", "whatsapp", locale, "delivery")
    zone = {
        "es": "hora de Buenos Aires",
        "en": "Buenos Aires time",
        "pt": "horário de Buenos Aires",
    }
    assert zone[locale.split("-")[0]] in text, text


@pytest.mark.parametrize("message", CUSTOMER_MESSAGES)
@pytest.mark.parametrize("locale", LOCALES)
def test_transliteration_never_changes_a_word(message: str, locale: str) -> None:
    renderer = Renderer(ROOT, max_sms_segments=MAX_SEGMENTS, transliterate=True)
    plain = Renderer(ROOT, max_sms_segments=MAX_SEGMENTS)
    for context in SAMPLES.values():
        rendered = renderer.render(message, "sms", locale, context)
        natural = plain.render(message, "sms", locale, context)
        assert rendered.sms == count_segments(rendered.text)
        assert re.findall(r"\w+", rendered.text) == re.findall(r"\w+", natural.text)
        assert rendered.sms.segments <= MAX_SEGMENTS


# The new estimate is Wednesday 25th 16:00 UTC: Thursday 26th 1:00 in Tokyo.
TOKYO_DAY = re.compile(r"\b26(/11| de)|11/26|November 26")
UTC_DAY = re.compile(r"\b25(/11| de)|11/25|November 25")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("locale", LOCALES)
def test_dates_are_in_the_customers_zone(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    text = _visible(renderer, "delivery_late", channel, locale, "other_timezone")
    assert TOKYO_DAY.search(text) and not UTC_DAY.search(text), text


@pytest.mark.parametrize("channel", CHANNELS)
def test_names_with_accents_and_apostrophes_survive(
    renderer: Renderer, channel: ChannelName
) -> None:
    rendered = renderer.render("delivery_late", channel, "es", SAMPLES["accents"])
    assert "María" in rendered.text
    if rendered.html is not None:
        assert "María" in rendered.html


def test_consolidated_message_lists_every_promise(renderer: Renderer) -> None:
    for channel in CHANNELS:
        text = _visible(renderer, "several_late", channel, "es", "several")
        for reference in ("A-20001", "R-311"):
            assert reference in text, (channel, text)


def test_escalation_shows_the_timeline(renderer: Renderer) -> None:
    for channel in CHANNELS:
        text = _visible(renderer, "escalation", channel, "es", "delivery")
        latest = "El cliente respondió por WhatsApp"  # an SMS carries only the latest entry
        assert latest in text, (channel, text)
        if channel != "sms":
            assert "Venció el plazo sin entrega" in text, (channel, text)
        assert "c-1001" in text


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_check_message_finds_nothing_in_shipped_templates(
    renderer: Renderer, message: str, channel: ChannelName
) -> None:
    if message == "escalation" and channel != "email":
        pytest.skip("escalations go to ops by email only; rules check renders that one")
    for locale in LOCALES:
        assert renderer.check_message(message, channel, locale) == []


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("message", OPS_MESSAGES)
def test_ops_messages_ship_in_english_and_render_cleanly(
    renderer: Renderer, message: str, sample: str
) -> None:
    path = renderer.template_path(message, "email", "en")
    assert path is not None and path.name == "email.en.j2"
    rendered = renderer.render(message, "email", "en", SAMPLES[sample])
    visible = _visible(renderer, message, "email", "en", sample)
    assert not LEFTOVER.search(visible), visible
    assert "None" not in visible, visible
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.html and rendered.text.strip()
    assert renderer.check_message(message, "email", "en") == []


def test_a_forwarded_reply_quotes_the_text_and_the_timeline(renderer: Renderer) -> None:
    rendered = renderer.render("ops_inbound_reply", "email", "en", SAMPLES["delivery"])
    assert rendered.subject == "Reply on whatsapp from Lucía Fernández Aguirre"
    assert "> ¿Dónde está mi pedido?\n> Hace 3 días que espero & nadie avisa" in rendered.text
    assert "Customer c-1001 (Lucía Fernández Aguirre), timeline, newest first:" in rendered.text
    assert "broken  Venció el plazo sin entrega" in rendered.text
    assert rendered.html is not None and "espero &amp; nadie" in rendered.html
