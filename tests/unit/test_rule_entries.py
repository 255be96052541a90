"""The one reader of the rule folder's files (``engine/rulefiles/entries.py``).

The corpora pin what the three callers report; these pin the reader's own edges: a
file that cannot be read, a parse that raises, entries without an id.
"""

from __future__ import annotations

from pathlib import Path

from notifier.domain.problems import Problem
from notifier.domain.rules.conditions import SchemaError
from notifier.engine.rulefiles.entries import Placed, duplicate_ids, placed_in, read_file
from notifier.engine.rulefiles.loader import YamlDocument, read_yaml

FILE = """\
things:
  - id: a
    size: big
  - size: small
  - id: b
"""


def _doc(text: str = FILE) -> YamlDocument:
    doc, problems = read_yaml(text.encode(), "f.yaml")
    assert doc is not None, problems
    return doc


def _things(doc: YamlDocument, shown: str, problems: list[Problem]) -> list[Placed[str]]:
    errors = [SchemaError(("things", 0, "size"), "too big"), SchemaError(("things", 1), "no id")]
    return placed_in(doc, shown, "things", ([(2, "b")], errors), problems)


def test_entries_with_an_id_are_placed_and_errors_stand_at_their_marks() -> None:
    problems: list[Problem] = []
    placed = _things(_doc(), "f.yaml", problems)
    assert [str(p) for p in problems] == ["f.yaml:3:11: too big", "f.yaml:4:5: no id"]
    assert [(p.id, p.value, p.index, p.item) for p in placed] == [
        ("a", None, 0, {"id": "a", "size": "big"}),  # broken: its id still counts
        ("b", "b", 2, {"id": "b"}),
    ]
    assert placed[1].at("id") == (5, 9)


def test_a_file_without_the_list_places_nothing() -> None:
    problems: list[Problem] = []
    assert placed_in(_doc("other: 1\n"), "f.yaml", "things", ([], []), problems) == []
    assert placed_in(_doc("- 1\n"), "f.yaml", "things", ([], []), problems) == []
    assert problems == []


def test_an_unreadable_file_is_a_problem_at_its_start(tmp_path: Path) -> None:
    problems: list[Problem] = []
    missing = tmp_path / "gone.yaml"
    assert read_file(missing, problems, _things) == []
    assert [str(p) for p in problems] == [f"{missing}:1:1: cannot read: No such file or directory"]


def test_bad_yaml_stops_before_the_parse(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("things: [\n")
    problems: list[Problem] = []

    def never(doc: YamlDocument, shown: str, problems: list[Problem]) -> list[Placed[str]]:
        raise AssertionError("parsed a file whose YAML is broken")

    assert read_file(tmp_path / "bad.yaml", problems, never) == []
    [problem] = problems
    assert problem.message.startswith("YAML syntax error")


def test_a_parse_that_raises_refuses_that_file_and_keeps_what_it_found(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(FILE)

    def raising(doc: YamlDocument, shown: str, problems: list[Problem]) -> list[Placed[str]]:
        problems.append(Problem(shown, 2, 5, "found before"))
        raise RuntimeError("boom")

    problems: list[Problem] = []
    assert read_file(tmp_path / "f.yaml", problems, raising) == []
    shown = str(tmp_path / "f.yaml")
    assert [str(p) for p in problems] == [
        f"{shown}:2:5: found before",
        f"{shown}:1:1: cannot check this file: RuntimeError: boom",
    ]


def test_a_repeated_id_names_the_first_place() -> None:
    doc = _doc()
    first = _things(doc, "a.yaml", [])
    again = _things(doc, "b.yaml", [])
    assert [str(p) for p in duplicate_ids([*first, *again], "thing id")] == [
        "b.yaml:2:9: duplicate thing id 'a' (first at a.yaml:2:9)",
        "b.yaml:5:9: duplicate thing id 'b' (first at a.yaml:5:9)",
    ]
