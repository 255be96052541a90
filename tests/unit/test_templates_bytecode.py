"""Compiled templates kept on disk: reused while the source is unchanged, never past it."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.templates import SAMPLES, Renderer, TemplateError
from notifier.templates.bytecode import SandboxBytecodeCache

CONTEXT = SAMPLES["delivery"]


def _write(root: Path, relative: str, body: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")


def test_a_second_process_reuses_the_compiled_template(tmp_path: Path) -> None:
    templates, cache = tmp_path / "templates", tmp_path / "cache"
    _write(templates, "m/sms.es.j2", "Hola {{ customer.first_name }}")
    first = Renderer(templates, compiled_dir=cache).render("m", "sms", "es", CONTEXT)
    stored = list(cache.iterdir())
    assert len(stored) == 1 and stored[0].name.startswith("__notifier_")
    again = Renderer(templates, compiled_dir=cache).render("m", "sms", "es", CONTEXT)
    assert again.text == first.text and list(cache.iterdir()) == stored


def test_an_edited_template_is_compiled_afresh(tmp_path: Path) -> None:
    templates, cache = tmp_path / "templates", tmp_path / "cache"
    _write(templates, "m/sms.es.j2", "antes {{ customer.first_name }}")
    Renderer(templates, compiled_dir=cache).render("m", "sms", "es", CONTEXT)
    _write(templates, "m/sms.es.j2", "después {{ customer.first_name }}")
    assert (
        Renderer(templates, compiled_dir=cache)
        .render("m", "sms", "es", CONTEXT)
        .text.startswith("después")
    )


def test_the_sandbox_still_refuses_what_it_refuses_with_a_warm_cache(tmp_path: Path) -> None:
    templates, cache = tmp_path / "templates", tmp_path / "cache"
    _write(templates, "m/sms.es.j2", "ok")
    Renderer(templates, compiled_dir=cache).render("m", "sms", "es", CONTEXT)
    _write(templates, "m/sms.es.j2", "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}")
    with pytest.raises(TemplateError, match="recursive"):
        Renderer(templates, compiled_dir=cache).render("m", "sms", "es", CONTEXT)
    [problem] = Renderer(templates, compiled_dir=cache).check_message("m", "sms", "es")
    assert "recursive" in problem.message and "m/sms.es.j2:" in str(problem)


def test_the_key_carries_the_sandboxs_fingerprint(tmp_path: Path) -> None:
    one, other = SandboxBytecodeCache(str(tmp_path)), SandboxBytecodeCache(str(tmp_path))
    assert one.get_cache_key("m/sms.es.j2") == other.get_cache_key("m/sms.es.j2")
    other.fingerprint = "an-older-sandbox"
    assert one.get_cache_key("m/sms.es.j2") != other.get_cache_key("m/sms.es.j2")


def test_a_cache_directory_that_cannot_be_written_never_fails_a_render(tmp_path: Path) -> None:
    templates, blocked = tmp_path / "templates", tmp_path / "a-file"
    _write(templates, "m/sms.es.j2", "Hola {{ customer.first_name }}")
    blocked.write_text("not a directory")
    rendered = Renderer(templates, compiled_dir=blocked / "cache").render("m", "sms", "es", CONTEXT)
    assert rendered.text.startswith("Hola")
