"""Known sandbox escapes and resource bombs are refused with a clear error, never run."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.templates import SAMPLES, Renderer, TemplateError


def _renderer(tmp_path: Path, body: str, *, name: str = "evil", channel: str = "sms") -> Renderer:
    folder = tmp_path / "templates" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{channel}.es.j2").write_text(body, encoding="utf-8")
    return Renderer(tmp_path / "templates")


ESCAPES = [
    pytest.param("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__", id="subclasses"),
    pytest.param("{{ cycler.__init__.__globals__ }}", "__init__", id="globals"),
    pytest.param("{{ company.__class__ }}", "__class__", id="class-of-context"),
    pytest.param("{{ self.__dict__ }}", "__dict__", id="self-dict"),
    pytest.param("{{ range.__self__.__builtins__ }}", "__self__", id="builtins"),
    pytest.param("{{ promise.attributes.update({'x': 1}) }}", "update", id="mutate-dict"),
    pytest.param("{{ 'a' * 100000 }}", "repeating", id="string-product"),
    pytest.param("{{ [1] * 100000 }}", "repeating", id="list-product"),
    pytest.param("{{ 10 ** 100000 }}", "too large", id="huge-power"),
    pytest.param("{{ range(10000000) | list }}", "range", id="huge-range"),
    pytest.param(
        "{% for a in range(999) %}{% for b in range(999) %}{% endfor %}{% endfor %}",
        "loop steps",
        id="nested-loops",
    ),
    pytest.param("{{ 'x'.ljust(10000000) }}", "width", id="ljust"),
    pytest.param("{{ 'x' | center(10000000) }}", "width", id="center-filter"),
    pytest.param("{{ '%99999999s' % 'x' }}", "format widths", id="percent-format"),
    pytest.param("{{ '{:>99999999}'.format('x') }}", "format widths", id="str-format"),
    pytest.param("{{ lipsum(100000) }}", "lipsum", id="lipsum-removed"),
    pytest.param("{% set ns = namespace(a=1) %}", "namespace", id="namespace-removed"),
    pytest.param(
        "{% macro f() %}{{ f() }}{{ f() }}{% endmacro %}{{ f() }}", "recursion", id="macro-bomb"
    ),
    pytest.param(
        "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursive", id="recursive-loop"
    ),
    pytest.param("{% include '../../etc/passwd' %}", "passwd", id="include-parent"),
    pytest.param("{% include '/etc/passwd' %}", "passwd", id="include-absolute"),
]


@pytest.mark.parametrize(("body", "hint"), ESCAPES)
def test_escapes_are_refused(tmp_path: Path, body: str, hint: str) -> None:
    renderer = _renderer(tmp_path, "Hola\n" + body)
    with pytest.raises(TemplateError) as caught:
        renderer.render("evil", "sms", "es", SAMPLES["delivery"])
    problem = caught.value.problem
    assert problem.file.endswith("evil/sms.es.j2")
    assert problem.line == 2
    assert hint in str(problem)
    assert renderer.check_message("evil", "sms", "es")[0].severity == "error"


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret", encoding="utf-8")
    renderer = _renderer(tmp_path, "{% include 'leak.j2' %}")
    (tmp_path / "templates" / "leak.j2").symlink_to(secret)
    renderer = Renderer(tmp_path / "templates")
    with pytest.raises(TemplateError, match="outside the templates folder"):
        renderer.render("evil", "sms", "es", SAMPLES["delivery"])


def test_rendered_size_is_capped(tmp_path: Path) -> None:
    body = "{% for i in range(900) %}{{ 'x' * 60000 }}{% endfor %}"
    renderer = _renderer(tmp_path, body)
    with pytest.raises(TemplateError, match="over the limit of 256000 characters"):
        renderer.render("evil", "sms", "es", SAMPLES["delivery"])


def test_an_include_inside_the_folder_works(tmp_path: Path) -> None:
    renderer = _renderer(tmp_path, "{% include '_parts/sign.j2' %}")
    (tmp_path / "templates" / "_parts").mkdir()
    (tmp_path / "templates" / "_parts" / "sign.j2").write_text("— {{ company.name }}")
    renderer = Renderer(tmp_path / "templates")
    assert renderer.render("evil", "sms", "es", SAMPLES["delivery"]).text == "— Acme & Hijos"
    assert renderer.messages() == ["evil"]
