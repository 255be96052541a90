"""Rule files read safely: YAML with the line and column of every key and value.

Only plain data comes out: custom tags are refused (nothing is ever constructed
from a tag), duplicate keys and tab indentation are errors, aliases may not expand
past a small bound, and YAML 1.1 surprises are undone (``21:00`` stays a time of
day, not the number 1260; ``NO`` stays Norway, not false).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from notifier.domain.problems import Problem

YamlPath = tuple[str | int, ...]
MAX_BYTES = 1_000_000
MAX_NODES = 20_000  # after alias expansion; a rule file holds a few hundred
MAX_DEPTH = 64
_CORE = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_CONSTRUCT = SafeConstructor()


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based, as editors count
    column: int


@dataclass(slots=True)
class YamlDocument:
    data: object
    values: dict[YamlPath, Mark] = field(default_factory=dict)
    keys: dict[YamlPath, Mark] = field(default_factory=dict)

    def mark(self, path: YamlPath, *, at_key: bool = False) -> Mark:
        """Return where ``path`` is written, or its nearest written parent."""
        if at_key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return Mark(1, 1)


class _TooBig(Exception):
    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark


def rule_files(rules_dir: Path) -> list[Path]:
    """Return the rule files in ``rules_dir`` (``*.yaml`` and ``*.yml``), sorted by name."""
    return sorted(p for p in rules_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def display_path(path: Path) -> str:
    """Return ``path`` relative to the current directory when it lies under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def describe_failure(what: str, exc: BaseException) -> str:
    """Return ``what: Type: message`` on one line, cut to a readable length."""
    text = " ".join(f"{what}: {type(exc).__name__}: {exc}".split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


MAX_MESSAGE = 300


def read_yaml(raw: bytes, file: str) -> tuple[YamlDocument | None, list[Problem]]:
    """Return the plain data of one YAML file with its marks, or every problem found."""
    if len(raw) > MAX_BYTES:
        return None, [Problem(file, 1, 1, f"file larger than {MAX_BYTES} bytes")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(file, line, 1, f"not UTF-8 text: byte 0x{raw[exc.start]:02x}")]
    text = text.removeprefix("\ufeff")
    tabs = _tab_problems(text, file)
    if tabs:
        return None, tabs
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = _one_line(f"YAML syntax error: {exc.problem or exc.context}")
        return None, [Problem(file, *where, message)]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        message = f"character {exc.character!r} is not allowed in YAML ({exc.reason})"
        return None, [Problem(file, line, column, message)]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, 1, _one_line(f"YAML error: {exc}"))]
    except RecursionError:
        return None, [Problem(file, 1, 1, "YAML nested too deeply")]
    doc = YamlDocument(None)
    if node is None:
        return doc, []
    reader = _Reader(doc, file)
    try:
        doc.data = reader.value(node, (), 0)
    except _TooBig as exc:
        return None, [*reader.problems, Problem(file, exc.mark.line, exc.mark.column, str(exc))]
    return (doc if not reader.problems else None), reader.problems


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tab_problems(text: str, file: str) -> list[Problem]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            column = indent.index("\t") + 1
            problems.append(Problem(file, number, column, "tab in indentation: YAML needs spaces"))
    return problems


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Reader:
    """Turns composed nodes into plain data, counting every node an alias brings back."""

    def __init__(self, doc: YamlDocument, file: str) -> None:
        self.doc = doc
        self.file = file
        self.problems: list[Problem] = []
        self.budget = MAX_NODES
        self.open: set[int] = set()

    def problem(self, node: Node, message: str) -> None:
        mark = _mark(node)
        self.problems.append(Problem(self.file, mark.line, mark.column, message))

    def value(self, node: Node, path: YamlPath, depth: int) -> object:
        self.budget -= 1
        if self.budget < 0:
            raise _TooBig(_mark(node), f"aliases expand beyond {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise _TooBig(_mark(node), f"nested deeper than {MAX_DEPTH} levels")
        self.doc.values[path] = _mark(node)
        if id(node) in self.open:
            raise _TooBig(_mark(node), "an alias refers to itself")
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if node.tag not in (f"{_CORE}seq", f"{_CORE}map"):
            self.problem(node, f"tag '{node.tag}' is not allowed: rule files hold plain data")
            return None
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [
                    self.value(item, (*path, i), depth + 1) for i, item in enumerate(node.value)
                ]
            assert isinstance(node, MappingNode)
            return self.mapping(node, path, depth)
        finally:
            self.open.discard(id(node))

    def mapping(self, node: MappingNode, path: YamlPath, depth: int) -> dict[str, object]:
        result: dict[str, object] = {}
        first: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_CORE}merge":
                self.problem(key_node, "merge keys ('<<') are not supported: write the keys out")
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, "a key must be plain text")
                continue
            key = str(key_node.value)
            if key in first:
                seen = first[key]
                self.problem(key_node, f"duplicate key '{key}' (first at line {seen.line})")
                continue
            first[key] = _mark(key_node)
            self.doc.keys[(*path, key)] = _mark(key_node)
            result[key] = self.value(value_node, (*path, key), depth + 1)
        return result

    def scalar(self, node: ScalarNode) -> object:
        tag, text = node.tag, str(node.value)
        if tag not in _PLAIN_TAGS:
            self.problem(node, f"tag '{tag}' is not allowed: rule files hold plain data")
            return None
        if node.style is not None or tag in (f"{_CORE}str", f"{_CORE}timestamp"):
            return text
        if tag == f"{_CORE}null":
            return None
        if tag == f"{_CORE}bool":
            # YAML 1.2: only true and false are booleans (``NO`` is Norway).
            return text.lower() == "true" if text.lower() in ("true", "false") else text
        if ":" in text:  # YAML 1.1 base-60 numbers: ``21:00`` is a time of day here
            return text
        try:
            if tag == f"{_CORE}int":
                return _CONSTRUCT.construct_yaml_int(node)
            return _CONSTRUCT.construct_yaml_float(node)
        except (ValueError, OverflowError):
            return text
