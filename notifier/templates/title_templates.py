"""Crisis rule titles as sandboxed Jinja2: checked when the rules load, rendered per group.

A crisis rule's ``incident.title`` is a template like the messages (``{{ group.carrier |
title }}``, conditionals), rendered with ``group``: the group's values by the last part
of each ``group_by`` field. It runs in the messages' sandbox (``sandbox.py``) under the
same limits (``RenderLimits``: time, steps, value and output size), so a title can no
more exhaust the scan than a message can exhaust the dispatcher.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence

from jinja2 import BaseLoader, Template, TemplateSyntaxError, meta, nodes

from notifier.domain.errors import NotifierError
from notifier.templates.diagnostics import describe
from notifier.templates.render_limits import (
    LimitExceeded,
    RenderLimits,
    output_message,
    render_budget,
)
from notifier.templates.sandbox import BoundedSandbox

GROUP = "group"  # the one variable a title reads
# Compiled titles kept at once: every title of every rule file, with room for reloads.
_KEPT = 512


class TitleError(NotifierError):
    """A title that cannot render for this group; the text says why, on one line."""


class TitleTemplates:
    """Compiles crisis titles once and renders them for a group, in the sandbox."""

    def __init__(self, limits: RenderLimits | None = None) -> None:
        self.limits = limits or RenderLimits()
        self._env = BoundedSandbox(BaseLoader())
        self._compiled: dict[str, Template] = {}

    def problems(self, source: str, names: Sequence[str] | None) -> list[str]:
        """Return what is wrong with ``source`` as a title over ``group.<names>``, if anything.

        A syntax error, or a name the title reads that no group has: ``group.carier``
        (with a did-you-mean), or a bare ``carrier`` that StrictUndefined would refuse.
        ``names`` None (the group fields are wrong themselves): the syntax only.
        """
        try:
            tree = self._env.parse(source)
            self._compile(source)  # the code generator refuses a few things too; kept
        except TemplateSyntaxError as exc:
            return [f"syntax error in the title: {exc.message}"]
        except Exception as exc:  # a parser pushed too deep: refused like a syntax error
            return [f"the title does not compile: {describe(exc)}"]
        if names is None:
            return []
        readable = [f"{GROUP}.{n}" for n in names]
        known = ", ".join(readable)
        found = [
            f"unknown {GROUP}.{name}{_hint(name, names)}: a title may use {known}"
            for name in dict.fromkeys(_group_fields(tree))
            if name not in names
        ]
        for name in sorted(meta.find_undeclared_variables(tree) - {GROUP}):
            found.append(f"unknown name '{name}'{_hint(name, names)}: a title may use {known}")
        return found

    def trial(self, source: str, names: Sequence[str]) -> str | None:
        """Return why ``source`` fails to render with each field's name as its value, if it does.

        A title that compiles may still raise for every group (``{{ 1 / 0 }}``); a value
        that only some groups have cannot be foreseen, so this is a hint, not a verdict.
        """
        try:
            self.render(source, {n: n for n in names})
        except TitleError as exc:
            return str(exc)
        return None

    def render(self, source: str, group: Mapping[str, str]) -> str:
        """Return the title for ``group``; raises TitleError saying why it cannot."""
        try:
            template = self._compiled.get(source) or self._compile(source)
            with render_budget(self.limits):
                text = template.render({GROUP: dict(group)})
            if len(text) > self.limits.max_output:
                raise LimitExceeded(output_message(self.limits.max_output))
        except TemplateSyntaxError as exc:
            raise TitleError(f"syntax error in the title: {exc.message}") from exc
        except Exception as exc:  # a title may raise anything: it is the title's fault
            raise TitleError(describe(exc)) from exc
        return text

    def _compile(self, source: str) -> Template:
        if len(self._compiled) >= _KEPT:  # old rule sets' titles: compiled again if needed
            self._compiled.clear()
        template = self._compiled[source] = self._env.from_string(source)
        return template


def _hint(name: str, names: Sequence[str]) -> str:
    """`` (did you mean 'group.carrier'?)`` for ``carier`` or a bare ``carrier``."""
    # did_you_mean's own wording, with the ``group.`` the title has to write.
    close = [name] if name in names else difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f" (did you mean '{GROUP}.{close[0]}'?)" if close else ""


def _group_fields(tree: nodes.Template) -> Iterator[str]:
    """Yield each field read off ``group``: ``group.carrier`` and ``group['carrier']``."""
    for node in tree.find_all(nodes.Getattr):
        if _is_group(node.node):
            yield node.attr
    for item in tree.find_all(nodes.Getitem):
        arg = item.arg
        if _is_group(item.node) and isinstance(arg, nodes.Const) and isinstance(arg.value, str):
            yield arg.value


def _is_group(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == GROUP
