"""Issue 22 (helper A): what the messages of bills, payments, cards and cancellations say.

The every-message properties (segments, apology, register, raw values...) are in
``test_templates_shipped.py``, where these messages are listed in ``MOMENTS_A``; here,
each moment's own facts: why, what happens now, what the customer must do, if anything.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from notifier.domain.models import CHANNELS, ChannelName
from notifier.templates import SAMPLES, Renderer
from notifier.templates.samples import SAMPLE_NOW
from tests.patience import PATIENT
from tests.unit.test_templates_shipped import APOLOGY, LOCALES, MOMENTS_A, ROOT, _visible

MAX_SEGMENTS = 2


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(ROOT, default_locale="es", max_sms_segments=MAX_SEGMENTS, limits=PATIENT)


# Raw values upstream sends for them, never words for a customer.
RAW_A = re.compile(
    r"wrong_amount|duplicate_charge|card_expired|insufficient_funds|bank_error|out_of_stock"
    r"|cancelled_by|\bcompany\b|(?<![\w-])2026-11(?![\w-])"
)


def _with(sample: str, **attributes: object) -> dict[str, object]:
    """The sample's context with some of its promise's attributes changed."""
    context = dict(SAMPLES[sample])
    promise = dict(context["promise"])  # type: ignore[call-overload]  # a dict
    promise["attributes"] = {**promise["attributes"], **attributes}
    context["promise"] = promise
    return context


def _text_of(
    renderer: Renderer, message: str, channel: ChannelName, locale: str, context: object
) -> str:
    rendered = renderer.render(message, channel, locale, context)  # type: ignore[arg-type]
    return "\n".join(p for p in (rendered.subject, rendered.text, rendered.html) if p)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("message", MOMENTS_A)
def test_moments_a_name_values_in_words(
    renderer: Renderer, message: str, channel: ChannelName, locale: str
) -> None:
    for sample in sorted(SAMPLES):
        text = _visible(renderer, message, channel, locale, sample)
        assert not RAW_A.search(text), (sample, text)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_wrong_bill_says_what_is_wrong_and_when_the_corrected_one_comes(
    renderer: Renderer, channel: ChannelName
) -> None:
    text = _visible(renderer, "bill_wrong", channel, "es-AR", "bill")
    assert "27/11" in text or "27 de noviembre" in text, text
    if channel != "sms":
        assert "el importe está mal" in text and "noviembre de 2026" in text, text
    # A value no table knows gets the general wording, never the identifier.
    odd = _text_of(renderer, "bill_wrong", channel, "es", _with("bill", bill_issue="tax_code_x9"))
    assert "tax_code_x9" not in odd, odd
    if channel != "sms":
        assert "tiene un error" in odd, odd


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("locale", LOCALES)
def test_the_closing_bill_says_corrected_only_for_a_wrong_one(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    corrected = {"es": "corregida", "en": "corrected", "pt": "corrigida"}[locale.split("-")[0]]
    fixed = _visible(renderer, "bill_corrected", channel, locale, "bill")
    assert corrected in fixed, fixed
    context = dict(SAMPLES["bill"])
    promise = dict(context["promise"])  # type: ignore[call-overload]  # a dict
    promise["attributes"] = {k: v for k, v in promise["attributes"].items() if k != "bill_issue"}
    context["promise"] = promise
    late = _text_of(renderer, "bill_corrected", channel, locale, context)
    assert corrected not in late, late
    assert APOLOGY[locale.split("-")[0]].search(late), late  # sorry again for the delay


PAY_LINK = "https://acme.example/pago/K2x9"
NO_ACTION = {  # the fault is not the customer's to mend
    "es": re.compile(r"no (necesitas|tenés que) hacer nada(?! más)", re.I),
    "en": re.compile(r"You don't need to do anything"),
    "pt": re.compile(r"Você não precisa fazer nada"),
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_failed_payment_says_why_and_what_to_do(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    language = locale.split("-")[0]
    text = _visible(renderer, "payment_failed", channel, locale, "payment")
    expired = {"es": "venc", "en": "expired", "pt": "venceu"}[language]
    assert expired in text and PAY_LINK in text, text  # why, and where to mend it
    assert not NO_ACTION[language].search(text), text
    if channel != "sms":
        assert "27" in text, text  # the next try, else
        assert APOLOGY[language].search(text), text  # courtesy: "disculpá la molestia"
    # The bank's fault or ours: an apology, the next try, and nothing asked.
    ours = _text_of(
        renderer, "payment_failed", channel, locale, _with("payment", failure_reason="bank_error")
    )
    assert APOLOGY[language].search(ours), ours
    assert "27" in ours, ours
    if channel != "sms":
        assert NO_ACTION[language].search(ours), ours


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_late_card_gives_the_new_date_and_the_carrier(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    text = _visible(renderer, "card_late", channel, locale, "card")
    assert re.search(r"27/11|11/27|27 de nov|November 27", text), text
    assert "https://acme.example/p/7Hq2Xk9" in text, text
    if channel != "sms":
        assert "Andreani" in text and "TJ-000451-7789" in text, text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_cancellation_by_us_says_why_and_what_happens_to_the_money(
    renderer: Renderer, channel: ChannelName, locale: str
) -> None:
    text = _visible(renderer, "cancelled_by_us", channel, locale, "cancelled")
    assert re.search(r"89[.,]999", text), text  # the money back
    assert re.search(r"1/12|12/1|1 de dez|1 de dic|December 1", text), text  # by when
    if channel != "sms":
        reason = {"es": "sin stock", "en": "out of stock", "pt": "acabou no estoque"}
        assert reason[locale.split("-")[0]] in text, text
    # Nothing to give back: no amount is invented.
    context = dict(SAMPLES["cancelled"])
    promise = dict(context["promise"])  # type: ignore[call-overload]  # a dict
    promise["attributes"] = {
        k: v for k, v in promise["attributes"].items() if k not in ("amount", "currency")
    }
    context["promise"] = promise
    bare = _text_of(renderer, "cancelled_by_us", channel, locale, context)
    assert not re.search(r"devolvemos|refund|Devolvemos", bare), bare


PERSON = {
    "es": re.compile(r"una persona"),
    "en": re.compile(r"a person"),
    "pt": re.compile(r"uma pessoa"),
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    ("message", "sample"), [("bill_still_late", "bill"), ("card_still_late", "card")]
)
def test_a_follow_up_moves_on_to_a_person_and_says_a_missed_date_plainly(
    renderer: Renderer, message: str, sample: str, channel: ChannelName, locale: str
) -> None:
    language = locale.split("-")[0]
    first = _visible(renderer, message.replace("_still", ""), channel, locale, sample)
    text = _visible(renderer, message, channel, locale, sample)
    assert PERSON[language].search(text) and not PERSON[language].search(first), text
    assert text != first
    # The new date passed too: never promised again, said plainly.
    context = dict(SAMPLES[sample])
    promise = dict(context["promise"])  # type: ignore[call-overload]  # a dict
    promise["estimate_at"] = SAMPLE_NOW - timedelta(days=1)  # Monday 23rd
    context["promise"] = promise
    missed = _text_of(renderer, message, channel, locale, context)
    assert not re.search(r"27/11|11/27|27 de nov|November 27", missed), missed
    if channel != "sms":
        assert re.search(r"23", missed) and re.search(r"Tampoco|too|Também", missed), missed


@pytest.mark.parametrize("locale", ["es", "es-AR", "pt-BR"])
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("sample", ["bill", "payment", "card"])
def test_the_escalation_names_the_new_kinds_in_the_language(
    renderer: Renderer, sample: str, channel: ChannelName, locale: str
) -> None:
    text = _visible(renderer, "escalation", channel, locale, sample)
    assert not re.search(r"\b(bill|payment|card)\b", text), text
    word = {"bill": "fatura", "payment": "pagamento", "card": "cartão"}
    if locale.startswith("es"):
        word = {"bill": "factura", "payment": "pago", "card": "tarjeta"}
    assert word[sample] in text, text
