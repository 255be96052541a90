"""Rendering a compiled template into its parts: the body, or an email's three blocks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from jinja2 import Template
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context

from notifier.templates.render_limits import LimitExceeded, RenderLimits, output_message

EMAIL_BLOCKS = ("subject", "text", "html")


def render_parts(
    template: Template, variables: dict[str, object], email: bool, limits: RenderLimits
) -> dict[str, str]:
    """The rendered text (``body``), or an email's ``subject``, ``text`` and ``html`` parts;
    the whole template's output is capped at ``limits.max_output`` characters."""
    context = template.new_context(variables)
    if not email:
        return {"body": _tidy(_bounded(template.root_render_func(context), limits.max_output))}
    missing = [b for b in EMAIL_BLOCKS if b not in template.blocks]
    if missing:
        raise SecurityError(f"an email template must define the blocks {', '.join(missing)}")
    # One pass over the whole template (so its top-level imports run), keeping
    # what each block wrote on the way.
    parts: dict[str, list[str]] = {}
    for name in EMAIL_BLOCKS:
        context.blocks[name][0] = _capturing(context.blocks[name][0], parts.setdefault(name, []))
    _bounded(template.root_render_func(context), limits.max_output)
    return {name: _tidy("".join(chunks)) for name, chunks in parts.items()}


def _capturing(
    block: Callable[[Context], Iterator[str]], sink: list[str]
) -> Callable[[Context], Iterator[str]]:
    def render(context: Context) -> Iterator[str]:
        for chunk in block(context):
            sink.append(chunk)
            yield chunk

    return render


def _bounded(chunks: Iterable[str], limit: int) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise LimitExceeded(output_message(limit))
        out.append(chunk)
    return "".join(out)


def _tidy(text: str) -> str:
    # Templates indent their logic; the reader sees no trailing spaces and at most one blank line.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
