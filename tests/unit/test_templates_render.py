"""The renderer: locale fallback, email parts, problems at path:line:column, SMS limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.templates import SAMPLES, Renderer, TemplateError

CONTEXT = SAMPLES["delivery"]


def _write(root: Path, relative: str, body: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    _write(root, "m/sms.es.j2", "es {{ customer.first_name }}")
    _write(root, "m/sms.es-AR.j2", "vos {{ customer.first_name }}")
    _write(root, "m/sms.en.j2", "en {{ customer.first_name }}")
    _write(root, "m/whatsapp.es.j2", "wa-es")
    _write(root, "m/x.pt-BR.j2", "x-pt")
    return root


@pytest.mark.parametrize(
    ("channel", "locale", "used"),
    [
        pytest.param("sms", "es-AR", "es-AR", id="exact"),
        pytest.param("sms", "es_ar", "es-AR", id="spelling-normalised"),
        pytest.param("sms", "es-MX", "es", id="variant-to-language"),
        pytest.param("whatsapp", "es-AR", "es", id="es-AR-falls-back-to-es"),
        pytest.param("whatsapp", "fr", "es", id="unknown-to-default"),
        pytest.param("x", "pt", "pt-BR", id="language-to-shipped-variant"),
    ],
)
def test_locale_fallback(root: Path, channel: str, locale: str, used: str) -> None:
    renderer = Renderer(root, default_locale="es")
    rendered = renderer.render("m", channel, locale, CONTEXT)  # type: ignore[arg-type]
    assert rendered.locale == used
    assert renderer.template_path("m", channel, locale) == root / "m" / f"{channel}.{used}.j2"  # type: ignore[arg-type]


def test_no_template_after_fallback(root: Path) -> None:
    renderer = Renderer(root, default_locale="en")
    assert renderer.template_path("m", "email", "es") is None
    [problem] = renderer.check_message("m", "email", "es")
    assert "no template for email in es (tried email.es.j2, email.es-AR.j2, email.en.j2)" in str(
        problem
    )
    with pytest.raises(TemplateError, match="no template for email"):
        renderer.render("m", "email", "es", CONTEXT)
    assert "no message 'nope'" in str(renderer.check_message("nope", "sms", "es")[0])


def test_listing(root: Path) -> None:
    renderer = Renderer(root)
    assert renderer.locales() == ["en", "es", "es-AR", "pt-BR"]
    assert renderer.messages() == ["m"]
    assert renderer.channels("m") == ["sms", "whatsapp", "x"]


def test_templates_are_compiled_once(root: Path) -> None:
    renderer = Renderer(root)
    assert renderer.render("m", "sms", "en", CONTEXT).text == "en Lucía"
    (root / "m" / "sms.en.j2").write_text("changed")
    assert renderer.render("m", "sms", "en", CONTEXT).text == "en Lucía"
    assert Renderer(root).render("m", "sms", "en", CONTEXT).text == "changed"


def test_email_escapes_only_the_html_part(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "m/email.es.j2",
        "{% block subject %}{{ company.name }} <{{ customer.name }}>{% endblock %}\n"
        "{% block text %}Hola {{ customer.name }} de {{ company.name }}{% endblock %}\n"
        "{% block html %}<p>{{ customer.name }} &middot; {{ company.name }}</p>{% endblock %}\n",
    )
    rendered = Renderer(tmp_path).render("m", "email", "es", SAMPLES["accents"])
    assert rendered.subject == "Acme & Hijos <María José O'Connor-Núñez de Etcheverría>"
    assert rendered.text == "Hola María José O'Connor-Núñez de Etcheverría de Acme & Hijos"
    assert (
        rendered.html
        == "<p>María José O&#39;Connor-Núñez de Etcheverría &middot; Acme &amp; Hijos</p>"
    )


def test_email_needs_its_three_blocks(tmp_path: Path) -> None:
    _write(tmp_path, "m/email.es.j2", "{% block subject %}x{% endblock %}")
    with pytest.raises(TemplateError, match="must define the blocks text, html"):
        Renderer(tmp_path).render("m", "email", "es", CONTEXT)


def test_undefined_variable_at_line_and_column(tmp_path: Path) -> None:
    _write(tmp_path, "m/sms.es.j2", "Hola\n  bye {{ customer.nmae }}\n")
    [problem] = Renderer(tmp_path).check_message("m", "sms", "es")
    assert str(problem).endswith(
        "m/sms.es.j2:2:19: undefined variable: 'dict object' has no attribute 'nmae'"
    )


def test_syntax_error_at_its_line(tmp_path: Path) -> None:
    _write(tmp_path, "m/sms.es.j2", "Hola\n\n{% if %}\n")
    [problem] = Renderer(tmp_path).check_message("m", "sms", "es")
    assert problem.line == 3 and "syntax error" in problem.message


def test_sms_over_the_segment_limit_is_a_warning(tmp_path: Path) -> None:
    _write(tmp_path, "m/sms.es.j2", "{{ 'a' * 400 }}")
    [problem] = Renderer(tmp_path, max_sms_segments=2).check_message("m", "sms", "es")
    assert problem.severity == "warning"
    assert "needs 3 GSM-7 segments, over NOTIFIER_MAX_SMS_SEGMENTS=2" in str(problem)


def test_sms_over_1600_characters_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "m/sms.es.j2", "{{ 'a' * 1601 }}")
    [problem] = Renderer(tmp_path).check_message("m", "sms", "es")
    assert problem.severity == "error"
    assert "SMS of 1601 characters is over the 1,600 Twilio accepts" in str(problem)


def test_transliteration_only_when_it_saves_segments(tmp_path: Path) -> None:
    _write(tmp_path, "short/sms.es.j2", "“ok”")
    _write(tmp_path, "long/sms.es.j2", "{{ '“ok” ' * 35 }}")
    _write(tmp_path, "accent/sms.es.j2", "{{ '“no llegó” ' * 10 }}")
    renderer = Renderer(tmp_path, transliterate=True)
    short = renderer.render("short", "sms", "es", CONTEXT)
    assert short.text == "“ok”" and short.sms is not None and short.sms.encoding == "UCS-2"
    long = renderer.render("long", "sms", "es", CONTEXT)
    assert long.text.startswith('"ok" ') and long.sms is not None
    assert (long.sms.encoding, long.sms.segments) == ("GSM-7", 2)
    plain = Renderer(tmp_path).render("long", "sms", "es", CONTEXT)
    assert plain.sms is not None and plain.sms.segments == 3
    # "llegó" never becomes "llego": the accent stays, so quotes alone cannot save a segment.
    accent = renderer.render("accent", "sms", "es", CONTEXT)
    assert "no llegó" in accent.text


def test_filters_in_the_customers_locale_and_zone(tmp_path: Path) -> None:
    body = (
        "{{ promise.window_start | window(promise.window_end) }}|{{ now | day }}|"
        "{{ promise.due_at | day }}|{{ 2 | business_days }}|{{ 1234.5 | money('BRL') }}"
    )
    for locale in ("es", "en", "pt-BR"):
        _write(tmp_path, f"m/sms.{locale}.j2", body)
    renderer = Renderer(tmp_path)
    window = SAMPLES["window"]
    assert renderer.render("m", "sms", "es", window).text == (
        "jueves 26 de noviembre, entre las 9:00 y las 12:00|hoy|el jueves 26 de noviembre|"
        "en 2 días hábiles|1.234,50 BRL"
    )
    assert renderer.render("m", "sms", "pt-BR", window).text == (
        "quinta-feira, 26 de novembro, entre 09:00 e 12:00|hoje|na quinta-feira, 26 de novembro|"
        "em 2 dias úteis|R$ 1.234,50"
    )
    assert renderer.render("m", "sms", "en", window).text == (
        "Thursday, November 26, between 9:00 AM and 12:00 PM|today|on Thursday, November 26|"
        "in 2 business days|R$1,234.50"
    )
