"""The checker never crashes, hangs or runs code, whatever a rule file holds."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.engine.rulefiles.check import RuleLoad, load_rules

SHIPPED = sorted((Path(__file__).parents[2] / "rules").glob("*.yaml"))
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(raw: bytes) -> RuleLoad:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_bytes(raw)
        load = load_rules(Path(folder))
    for problem in load.problems:
        assert problem.line >= 1 and problem.column >= 1
        assert problem.message and "\n" not in problem.message
    assert (load.rules is None) == any(p.severity == "error" for p in load.problems)
    return load


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(
    st.text(
        alphabet=st.sampled_from(list("rules:-id{}[]&*!|>'\"\t\n #?,.%@`0123abc")), max_size=400
    )
)
def test_random_yaml_like_text(text: str) -> None:
    check(text.encode())


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(SHIPPED)).read_text()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate-line", "swap"]))
        if kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif kind == "insert":
            piece = draw(
                st.sampled_from(
                    [
                        "\t",
                        ": ",
                        "- ",
                        "&a ",
                        "*a",
                        "!!python/name:os.system ",
                        "{",
                        "]",
                        "\n  ",
                        "0s",
                        "-1h",
                        "smss",
                        "'",
                        "<<: *a",
                        "~",
                    ]
                )
            )
            text = text[:at] + piece + text[at:]
        else:
            lines = text.splitlines(keepends=True)
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate-line":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
    return text.encode()


@FUZZ
@given(mutations())
def test_mutations_of_the_shipped_files(raw: bytes) -> None:
    check(raw)


def test_tags_never_construct_objects(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "evil.yaml").write_text(
        "rules:\n"
        f"  - id: !!python/object/apply:os.system ['touch {marker}']\n"
        f"    when: !!python/object/new:pathlib.Path ['{marker}']\n"
    )
    load = load_rules(tmp_path / "rules")
    assert load.rules is None
    assert not marker.exists()
    assert all("is not allowed" in p.message for p in load.problems)


def test_a_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    (tmp_path / "bomb.yaml").write_text("\n".join([*lines, "rules: *l9"]))
    [problem] = load_rules(tmp_path).problems
    assert problem.message == "aliases expand beyond 20000 nodes"


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text("rules: " + "[" * 5000 + "]" * 5000)
    [problem] = load_rules(tmp_path).problems
    assert "nested" in problem.message
