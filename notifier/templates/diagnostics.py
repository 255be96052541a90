"""Turning a failed render into a ``path:line:column: message`` problem ops can act on."""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType

from jinja2 import Template, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from notifier.domain.problems import Problem
from notifier.templates.render_limits import LimitExceeded
from notifier.templates.segments import SegmentInfo

TWILIO_MAX_CHARS = 1600
_QUOTED = re.compile(r"'([^']+)'")


def locate(exc: BaseException, root: Path, path: str) -> Problem:
    """The problem for ``exc``, at the template line that raised it (``path`` when unknown)."""
    if isinstance(exc, TemplateSyntaxError):
        where = str(root / exc.name) if exc.name else path
        source = exc.source or _read(exc.filename)
        return _problem(where, exc.lineno or 1, source, f"syntax error: {exc.message}", exc)
    frame = _template_frame(exc.__traceback__)
    if frame is None:
        return Problem(path, 1, 1, describe(exc))
    template, lineno = frame
    where = str(root / template.name) if template.name else path
    return _problem(where, lineno, _read(template.filename), describe(exc), exc)


def sms_problems(
    rendered_text: str, info: SegmentInfo, path: str, sample: str, limit: int
) -> list[Problem]:
    """An error past Twilio's 1,600 characters, a warning past ``limit`` segments."""
    if len(rendered_text) > TWILIO_MAX_CHARS:
        return [
            Problem(
                path,
                1,
                1,
                f"SMS of {len(rendered_text)} characters is over the {TWILIO_MAX_CHARS:,} "
                f"Twilio accepts (sample {sample!r})",
            )
        ]
    if info.segments > limit:
        return [
            Problem(
                path,
                1,
                1,
                f"SMS needs {info.segments} {info.encoding} segments, over "
                f"NOTIFIER_MAX_SMS_SEGMENTS={limit} (sample {sample!r})",
                "warning",
            )
        ]
    return []


def describe(exc: BaseException) -> str:
    """One line saying why a render failed: the limit, the undefined name, the exception."""
    if isinstance(exc, LimitExceeded):
        return str(exc)
    if isinstance(exc, UndefinedError):
        return f"undefined variable: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"refused by the sandbox: {exc}"
    if isinstance(exc, RecursionError):
        return "refused: recursion too deep (a macro that calls itself?)"
    text = " ".join(str(exc).split())[:200]  # one line, whatever the exception says
    return (
        f"cannot render: {type(exc).__name__}: {text}"
        if text
        else f"cannot render: {type(exc).__name__}"
    )


def _template_frame(tb: TracebackType | None) -> tuple[Template, int] | None:
    found = None
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if isinstance(template, Template):
            found = (template, template.get_corresponding_lineno(tb.tb_lineno))
        tb = tb.tb_next
    return found


def _problem(path: str, lineno: int, source: str, message: str, exc: BaseException) -> Problem:
    lines = source.splitlines()
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    return Problem(path, lineno, _column(line, str(exc)), message)


def _column(line: str, text: str) -> int:
    # The error names the variable or attribute; point at it, else at the first tag.
    for name in reversed(_QUOTED.findall(text)):
        index = line.find(name)
        if index >= 0:
            return index + 1
    for marker in ("{{", "{%"):
        index = line.find(marker)
        if index >= 0:
            return index + 1
    return 1


def _read(filename: str | None) -> str:
    try:
        return Path(filename).read_text(encoding="utf-8") if filename else ""
    except OSError:
        return ""
