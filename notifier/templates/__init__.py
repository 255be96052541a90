"""Message rendering: sandboxed Jinja2, locale fallback, SMS segments."""

from __future__ import annotations

from notifier.templates.context import Company, TimelineEntry, build_context, ops_context
from notifier.templates.render import Rendered, Renderer, RenderJob, TemplateError
from notifier.templates.render_limits import RenderLimits
from notifier.templates.samples import SAMPLES
from notifier.templates.segments import SegmentInfo, count_segments, transliterate

__all__ = [
    "SAMPLES",
    "Company",
    "RenderJob",
    "RenderLimits",
    "Rendered",
    "Renderer",
    "SegmentInfo",
    "TemplateError",
    "TimelineEntry",
    "build_context",
    "count_segments",
    "ops_context",
    "transliterate",
]
