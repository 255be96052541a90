"""Known sandbox escapes and resource bombs are refused with a clear error, never run.

Each bomb must be refused by the limit it names, before it builds what it asks for:
the tests assert the limit in the error and the memory the render allocated
(tracemalloc's peak), never how long it took. The bombs render with a generous time
limit so that, on a loaded machine, the size limit and not the clock is what stops them.
"""

from __future__ import annotations

import asyncio
import threading
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest

from notifier.config import Settings
from notifier.templates import SAMPLES, Renderer, TemplateError
from notifier.templates.render_limits import RenderLimits
from tests.patience import PATIENT

PEAK = 40_000_000  # bytes a refused bomb may have allocated: a few 1 MB values at most
VALUE = "1 MB limit on one value"
TEXT = "1 MB limit on the text it writes"


def _renderer(
    tmp_path: Path,
    body: str,
    *,
    name: str = "evil",
    channel: str = "sms",
    limits: RenderLimits | None = None,
) -> Renderer:
    folder = tmp_path / "templates" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{channel}.es.j2").write_text(body, encoding="utf-8")
    return Renderer(tmp_path / "templates", limits=limits)


ESCAPES = [
    pytest.param("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__", id="subclasses"),
    pytest.param("{{ cycler.__init__.__globals__ }}", "__init__", id="globals"),
    pytest.param("{{ company.__class__ }}", "__class__", id="class-of-context"),
    pytest.param("{{ self.__dict__ }}", "__dict__", id="self-dict"),
    pytest.param("{{ range.__self__.__builtins__ }}", "__self__", id="builtins"),
    pytest.param("{{ promise.attributes.update({'x': 1}) }}", "update", id="mutate-dict"),
    pytest.param("{{ lipsum(100000) }}", "lipsum", id="lipsum-removed"),
    pytest.param("{% set ns = namespace(a=1) %}", "namespace", id="namespace-removed"),
    pytest.param("{{ [1] | pprint }}", "pprint", id="pprint-removed"),
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


S60K = "{% set s = 'x' * 60000 %}"
S900K = "{% set s = 'x' * 900000 %}"
BOMBS = [
    # The issue's own: each took hundreds of MB to GB, or hung, before.
    pytest.param(S60K + "{{ s|join(s)|length }}", VALUE + " ('join')", id="join-filter"),
    pytest.param(S60K + "{{ s.join(s)|length }}", VALUE + " ('str.join')", id="join-method"),
    pytest.param(S900K + "{% set t = s ~ s %}{{ t|length }}", VALUE + " ('~')", id="tilde"),
    pytest.param(S900K + "{% set t = s + s %}{{ t|length }}", VALUE + " ('+')", id="plus"),
    pytest.param(
        "{% set l = ['x'] * 400 %}{{ ([l] * 2000)|sum(start=[])|length }}",
        VALUE + " ('*')",
        id="sum-of-lists",
    ),
    pytest.param(
        "{% set l = ['x'] * 400 %}{{ ([l] * 1000 + [l] * 1000)|sum(start=[])|length }}",
        VALUE + " ('+')",
        id="sum-of-lists-by-plus",
    ),
    pytest.param("{{ 'x' * 100000000 }}", VALUE + " ('*')", id="string-product"),
    pytest.param("{{ [1] * 100000000 }}", VALUE + " ('*')", id="list-product"),
    pytest.param("{{ ('%s' * 3000)|format(*(['x' * 1000] * 3000)) }}", VALUE, id="format"),
    pytest.param("{{ '%(a)s%(a)s%(a)s' % {'a': 'x' * 400000} }}", VALUE + " ('%')", id="percent"),
    pytest.param("{{ '%.99999999f' % 1.0 }}", VALUE + " ('%')", id="percent-precision"),
    pytest.param("{{ '%99999999s' % 'x' }}", VALUE + " ('%')", id="percent-width"),
    pytest.param("{{ '{:>99999999}'.format('x') }}", VALUE + " ('format')", id="format-width"),
    pytest.param("{{ '{:.99999999f}'.format(1.0) }}", VALUE + " ('format')", id="format-prec"),
    pytest.param("{{ '{0:{1}}'.format('x', 99999999) }}", VALUE + " ('format')", id="nested"),
    pytest.param("{{ '{0}{0}{0}{0}'.format('x' * 300000) }}", VALUE + " ('format')", id="repeat"),
    pytest.param("{{ '{a}{a}{a}{a}'.format_map({'a': 'x' * 300000}) }}", VALUE, id="format-map"),
    pytest.param("{{ 'x'.ljust(100000000) }}", VALUE + " ('str.ljust')", id="ljust"),
    pytest.param("{{ 'x'.zfill(100000000) }}", VALUE + " ('str.zfill')", id="zfill"),
    pytest.param("{{ 'x' | center(100000000) }}", VALUE + " ('center')", id="center-filter"),
    pytest.param(
        "{{ ('\\t' * 1000).expandtabs(tabsize=100000) }}",
        VALUE + " ('str.expandtabs')",
        id="expandtabs",
    ),
    pytest.param(
        "{{ ('x' * 1000).replace('', 'y' * 10000) }}", VALUE + " ('str.replace')", id="replace"
    ),
    pytest.param(
        "{{ ('x' * 1000)|replace('x', 'y' * 10000) }}", VALUE + " ('replace')", id="replace-f"
    ),
    pytest.param(
        "{{ ('x' * 1000).translate({120: 'y' * 10000}) }}",
        VALUE + " ('str.translate')",
        id="translate",
    ),
    pytest.param("{{ ('\\n' * 900000)|indent('x' * 1000) }}", VALUE + " ('indent')", id="indent"),
    pytest.param(
        "{{ ('x' * 60000)|wordwrap(1, wrapstring='y' * 100) }}",
        VALUE + " ('wordwrap')",
        id="wordwrap",
    ),
    pytest.param("{{ [1]|batch(100000000, 'x')|list }}", VALUE + " ('batch')", id="batch"),
    pytest.param("{{ [1, 2]|slice(100000000)|list }}", VALUE + " ('slice')", id="slice"),
    pytest.param(
        "{{ ('x' * 2000)|list|map('center', 1000)|list|length }}", VALUE + " ('map')", id="map"
    ),
    pytest.param("{{ ('x' * 600000)|list|length }}", VALUE + " ('list')", id="list"),
    pytest.param(S900K + "{{ [s, s, s]|join }}", VALUE + " ('[...]')", id="list-literal"),
    pytest.param(S900K + "{{ {'a': s, 'b': s} }}", VALUE + " ('[...]')", id="dict-literal"),
    pytest.param(
        "{% set s = 'x' * 300000 %}{{ ({'a': s, 'b': s, 'c': s})|tojson }}",
        VALUE + " ('tojson')",
        id="tojson",
    ),
    pytest.param(
        "{{ (['x'] * 100000)|tojson(indent=100) }}", VALUE + " ('tojson')", id="tojson-indent"
    ),
    pytest.param(
        "{{ {}.fromkeys(range(1000), 'x' * 100000)|length }}",
        VALUE + " ('dict.fromkeys')",
        id="fromkeys",
    ),
    pytest.param(
        "{% macro m() %}{% for i in range(100) %}{{ 'x' * 100000 }}{% endfor %}{% endmacro %}"
        "{{ m()|length }}",
        TEXT,
        id="macro-buffer",
    ),
    pytest.param(
        "{% set t %}{% for i in range(100) %}{{ 'x' * 100000 }}{% endfor %}{% endset %}"
        "{{ t|length }}",
        TEXT,
        id="set-block",
    ),
    pytest.param(
        "{% set t %}{% for i in range(1000) %}" + "static text " * 100 + "{% endfor %}"
        "{% endset %}{{ t|length }}",
        TEXT,
        id="static-text-in-a-loop",
    ),
    pytest.param(
        "{% macro m() %}{% for i in range(100) %}{{ (-1000000)|_written }}{{ 'x' * 100000 }}"
        "{% endfor %}{% endmacro %}{{ m()|length }}",
        TEXT,
        id="internal-filter-cannot-give-back",
    ),
    pytest.param(
        "{{ ('<>' * 300000)|striptags }}", "64 KB limit on text for 'striptags'", id="striptags"
    ),
    pytest.param("{{ range(10**20) }}", "limit of 1000 items in one range()", id="huge-range"),
    pytest.param("{{ 10 ** 100000 }}", "limit of 4096 bits on one number ('**')", id="huge-power"),
    pytest.param(
        "{{ (2 ** 4000) * (2 ** 4000) }}",
        "limit of 4096 bits on one number ('*')",
        id="huge-product",
    ),
    pytest.param(
        "{% for a in range(999) %}{% for b in range(999) %}{% endfor %}{% endfor %}",
        "limit of 20000 loop steps and calls",
        id="nested-loops",
    ),
    pytest.param(
        "{% for i in range(900) %}{{ 'x' * 60000 }}{% endfor %}",
        "64 KB limit on its output (NOTIFIER_RENDER_MAX_OUTPUT)",
        id="output",
    ),
]


@pytest.mark.parametrize(("body", "limit"), BOMBS)
def test_bombs_are_refused_before_they_allocate(tmp_path: Path, body: str, limit: str) -> None:
    renderer = _renderer(tmp_path, "Hola\n" + body, limits=PATIENT)
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError) as caught:
            renderer.render("evil", "sms", "es", SAMPLES["delivery"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    problem = caught.value.problem
    assert problem.file.endswith("evil/sms.es.j2")
    assert f"template exceeds the {limit}" in problem.message
    assert "\n" not in str(caught.value)
    assert peak < PEAK


ORDINARY = [
    pytest.param("{{ 1 / 0 }}", "ZeroDivisionError: division by zero", id="zero-division"),
    pytest.param("{{ 10.0 ** 400 }}", "OverflowError", id="float-overflow"),
    pytest.param("{{ [1, 2]|slice(0)|list }}", "ZeroDivisionError", id="slice-zero"),
    pytest.param("{{ [1, 2]|slice(0) }}", "ZeroDivisionError", id="slice-zero-written"),
    pytest.param("{{ 'abc'|truncate(1) }}", "AssertionError", id="filter-assert"),
    pytest.param("{{ '%d' % 'x' }}", "TypeError", id="type-error"),
    pytest.param("{{ ('9' * 5000)|int(base=10) + {} }}", "TypeError", id="int-then-type"),
]


@pytest.mark.parametrize(("body", "hint"), ORDINARY)
def test_ordinary_exceptions_become_template_errors(tmp_path: Path, body: str, hint: str) -> None:
    renderer = _renderer(tmp_path, "Hola\n\n" + body)
    with pytest.raises(TemplateError) as caught:
        renderer.render("evil", "sms", "es", SAMPLES["delivery"])
    problem = caught.value.problem
    assert (Path(problem.file).name, problem.line) == ("sms.es.j2", 3)
    assert f"cannot render: {hint}" in problem.message
    [found] = renderer.check_message("evil", "sms", "es")
    assert found.message == problem.message


SLOW = [
    pytest.param(
        "{% for i in range(100) %}{% for j in range(100) %}{{ j }}{% endfor %}{% endfor %}",
        id="loops",
    ),
    # Quadratic copying inside one filter: the deadline is checked between additions.
    pytest.param("{% set l = ['x'] * 200 %}{{ ([l] * 2000)|sum(start=[])|length }}", id="sum"),
]


@pytest.mark.parametrize("body", SLOW)
def test_a_slow_but_legal_template_stops_at_its_deadline(tmp_path: Path, body: str) -> None:
    tiny = RenderLimits(timeout=timedelta(microseconds=1))
    renderer = _renderer(tmp_path, "Hola\n" + body, limits=tiny)
    with pytest.raises(TemplateError) as caught:
        renderer.render("evil", "sms", "es", SAMPLES["delivery"])
    assert caught.value.problem.line == 2
    assert "template exceeds the 1e-06 s time limit (NOTIFIER_RENDER_TIMEOUT)" in str(caught.value)


def test_the_same_loops_render_given_their_time(tmp_path: Path) -> None:
    renderer = _renderer(tmp_path, "Hola\n" + str(SLOW[0].values[0]), limits=PATIENT)
    assert renderer.render("evil", "sms", "es", SAMPLES["delivery"]).text.startswith("Hola\n0123")


def test_legal_templates_near_the_limits_render(tmp_path: Path) -> None:
    body = (
        "{{ 'x' * 60000 }}|{{ ['a', 'b']|join(', ') }}|{{ '%05.1f' % 3.14159 }}|"
        "{{ '{:>6}'.format('ab') }}|{{ 'a' ~ 1 ~ none }}|{{ [[1], [2]]|sum(start=[]) }}|"
        "{{ 'ab'|center(6) }}|{{ [1, 2, 3]|sum }}|{{ 'a-b'.replace('-', '+') }}|"
        "{{ [1, 2, 3]|batch(2) }}"
    )
    text = _renderer(tmp_path, body).render("evil", "sms", "es", SAMPLES["delivery"]).text
    assert text == "x" * 60000 + "|a, b|003.1|    ab|a1None|[1, 2]|  ab  |6|a+b|[[1, 2], [3]]"


def test_the_limits_are_settings(tmp_path: Path) -> None:
    settings = Settings(
        templates_dir=str(tmp_path / "templates"),
        render_timeout="3s",  # type: ignore[arg-type]  # the environment gives strings
        render_max_output=100,
        render_max_value=1000,
    )
    _renderer(tmp_path, "{{ 'x' * 200 }}")
    renderer = Renderer.from_settings(settings.render)
    assert renderer.limits == RenderLimits(timedelta(seconds=3), 100, 1000)
    with pytest.raises(TemplateError, match="exceeds the 100 characters limit on its output"):
        renderer.render("evil", "sms", "es", SAMPLES["delivery"])
    _renderer(tmp_path, "{{ ('x' * 2000)|length }}")
    with pytest.raises(TemplateError, match=r"exceeds the 1,000 characters limit on one value"):
        Renderer.from_settings(settings.render).render("evil", "sms", "es", SAMPLES["delivery"])


async def test_the_async_render_runs_in_a_worker_thread(tmp_path: Path) -> None:
    seen: list[threading.Thread] = []

    def probe() -> str:
        seen.append(threading.current_thread())
        return "seen"

    renderer = _renderer(tmp_path, "Hola {{ probe() }}")
    context = {**SAMPLES["delivery"], "probe": probe}
    assert not renderer.workers_started
    rendered = await renderer.render_async("evil", "sms", "es", context)
    assert rendered.text == "Hola seen"
    assert renderer.workers_started
    loop_thread = threading.current_thread()
    assert seen and seen[0] is not loop_thread
    assert seen[0].name.startswith("render")
    # A failure in the worker comes back as the same TemplateError.
    _renderer(tmp_path, "{{ 1 / 0 }}", name="broken")
    broken = Renderer(tmp_path / "templates")
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        await broken.render_async("broken", "sms", "es", SAMPLES["delivery"])
    await asyncio.sleep(0)


def test_a_one_off_render_starts_no_worker(tmp_path: Path) -> None:
    renderer = _renderer(tmp_path, "Hola")
    assert renderer.render("evil", "sms", "es", SAMPLES["delivery"]).text == "Hola"
    assert renderer.check_message("evil", "sms", "es") == []
    assert not renderer.workers_started


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret", encoding="utf-8")
    renderer = _renderer(tmp_path, "{% include 'leak.j2' %}")
    (tmp_path / "templates" / "leak.j2").symlink_to(secret)
    renderer = Renderer(tmp_path / "templates")
    with pytest.raises(TemplateError, match="outside the templates folder"):
        renderer.render("evil", "sms", "es", SAMPLES["delivery"])


def test_an_include_inside_the_folder_works(tmp_path: Path) -> None:
    renderer = _renderer(tmp_path, "{% include '_parts/sign.j2' %}")
    (tmp_path / "templates" / "_parts").mkdir()
    (tmp_path / "templates" / "_parts" / "sign.j2").write_text("— {{ company.name }}")
    renderer = Renderer(tmp_path / "templates")
    assert renderer.render("evil", "sms", "es", SAMPLES["delivery"]).text == "— Acme & Hijos"
    assert renderer.messages() == ["evil"]


def test_deeply_nested_customer_data_is_measured_without_recursing(tmp_path: Path) -> None:
    nested: dict[str, object] = {}
    inner = nested
    for _ in range(5000):  # JSON attributes from upstream may nest deep
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]  # built one level at a time
    promise = {**SAMPLES["delivery"]["promise"], "attributes": nested}  # type: ignore[dict-item]
    context = {**SAMPLES["delivery"], "promise": promise}
    renderer = _renderer(tmp_path, "{{ ([promise] + others)|length }} {{ [promise]|length }}")
    assert renderer.render("evil", "sms", "es", context).text == "1 1"
