"""The renderer: locale fallback, compiled-template cache, email parts, SMS sizing.

A ``Renderer`` is a snapshot of ``templates_dir``: it lists the files once and
compiles each template once, so the dispatcher never touches the disk per
message. Reloading templates means building a new ``Renderer``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from jinja2 import FileSystemLoader, Template, TemplateNotFound

from notifier.config import RenderSettings
from notifier.domain.errors import NotifierError
from notifier.domain.models import CHANNELS, ChannelName
from notifier.domain.problems import Problem
from notifier.templates.bytecode import bytecode_cache
from notifier.templates.context import for_locale, incident_for_locale
from notifier.templates.diagnostics import locate, sms_problems
from notifier.templates.filters import FILTERS
from notifier.templates.parts import render_parts
from notifier.templates.render_limits import LimitExceeded, RenderLimits, render_budget
from notifier.templates.samples import SAMPLES, sample_for
from notifier.templates.sandbox import BoundedSandbox
from notifier.templates.segments import SegmentInfo, count_segments, transliterate
from notifier.templates.workers import RenderPool

_FILE = re.compile(r"^(?P<channel>[a-z]+)\.(?P<locale>[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\.j2$")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready for a channel; ``locale`` is the one used after fallback."""

    message: str
    channel: ChannelName
    locale: str
    path: str
    text: str
    subject: str | None = None
    html: str | None = None
    sms: SegmentInfo | None = None


@dataclass(frozen=True, slots=True)
class RenderJob:
    """One message to render: what ``Renderer.render`` takes."""

    message: str
    channel: ChannelName
    locale: str
    context: Mapping[str, object]


class TemplateError(NotifierError):
    """A template that cannot render; ``problem`` points at its path:line:column."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def normalize_locale(tag: str) -> str:
    """'es_ar' -> 'es-AR', 'PT-br' -> 'pt-BR', 'en' -> 'en'."""
    parts = tag.replace("_", "-").split("-")
    head, rest = parts[0].lower(), [p.upper() if len(p) == 2 else p for p in parts[1:]]
    return "-".join([head, *rest])


class _ConfinedLoader(FileSystemLoader):
    # FileSystemLoader already refuses "..": this also refuses a symlink that leads
    # out of the templates folder.
    def get_source(self, environment: object, template: str) -> tuple[str, str, object]:  # type: ignore[override]  # Jinja's signature wants an Environment; any works
        source, filename, uptodate = super().get_source(environment, template)  # type: ignore[arg-type]  # see above
        root = Path(self.searchpath[0]).resolve()
        if not Path(filename).resolve().is_relative_to(root):
            raise TemplateNotFound(template, f"{template!r} leads outside the templates folder")
        return source, filename, uptodate


class Renderer:
    """Renders messages from ``templates/<message>/<channel>.<locale>.j2`` in a sandbox."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        default_locale: str = "es",
        max_sms_segments: int = 3,
        transliterate: bool = False,
        limits: RenderLimits | None = None,
        compiled_dir: Path | None = None,  # the bytecode cache's; None: Jinja2's per-user one
    ) -> None:
        self.templates_dir = Path(templates_dir)
        self.limits = limits or RenderLimits()
        self._pool = RenderPool(self.limits.timeout)  # starts its threads on first use only
        self.default_locale = normalize_locale(default_locale)
        self.max_sms_segments = max_sms_segments
        self.transliterate = transliterate
        self._env = BoundedSandbox(_ConfinedLoader(str(self.templates_dir)))
        self._env.bytecode_cache = bytecode_cache(compiled_dir)  # compiled once per source
        self._env.filters.update(FILTERS)
        self._files = dict(_index(self.templates_dir))
        self._resolved: dict[tuple[str, str, str], str | None] = {}
        self._compiled: dict[str, tuple[Template, str]] = {}  # name -> (template, its path)

    @classmethod
    def from_settings(cls, settings: RenderSettings) -> Renderer:
        """Return the renderer NOTIFIER_TEMPLATES_DIR and the message settings describe."""
        return cls(
            Path(settings.templates_dir),
            default_locale=settings.default_locale,
            max_sms_segments=settings.max_sms_segments,
            transliterate=settings.sms_transliterate,
            limits=RenderLimits.from_settings(settings),
        )

    @property
    def workers_started(self) -> bool:
        """True once ``render_async`` started the worker threads (``render`` never does)."""
        return self._pool.started

    def locales(self) -> list[str]:
        """Every locale shipped anywhere under the templates folder, sorted."""
        return sorted({locale for (_, _, locale) in self._files})

    def messages(self) -> list[str]:
        """Every message folder (folders starting with '_' hold shared macros)."""
        return sorted({message for (message, _, _) in self._files})

    def channels(self, message: str) -> list[ChannelName]:
        """The channels ``message`` has a template for, in the usual order."""
        present = {channel for (m, channel, _) in self._files if m == message}
        return [c for c in CHANNELS if c in present]

    def template_path(self, message: str, channel: ChannelName, locale: str) -> Path | None:
        """The template used for ``locale`` after the es-AR -> es -> default fallback."""
        name = self._resolve(message, channel, locale)
        return self.templates_dir / name if name else None

    def fallback_chain(self, locale: str) -> list[str]:
        """The locales tried in order: es-AR, es, es-* shipped, the default, its language."""
        tag = normalize_locale(locale)
        language = tag.split("-")[0]
        siblings = [loc for loc in self.locales() if loc.split("-")[0] == language]
        chain = [tag, language, *siblings, self.default_locale, self.default_locale.split("-")[0]]
        return list(dict.fromkeys(chain))

    def render(
        self, message: str, channel: ChannelName, locale: str, context: Mapping[str, object]
    ) -> Rendered:
        """Render ``message`` for ``channel``; raises TemplateError with path:line:column.

        Any failure, a limit or an ordinary exception (``1 / 0``), becomes a TemplateError
        naming the template and, when Jinja's traceback gives it, the line.
        """
        name = self._resolve(message, channel, locale)
        if name is None:
            raise TemplateError(self._missing(message, channel, locale))
        used = name.rsplit(".", 2)[1]
        template, path = self._compiled.get(name) or self._compile(name)
        # Dates follow the customer's own variant (es-AR) when the language matches.
        customer = context.get("customer")
        wanted = (
            normalize_locale(str(customer.get("locale") or used))
            if isinstance(customer, Mapping)
            else used
        )
        locale_used = wanted if wanted.split("-")[0] == used.split("-")[0] else used
        company = for_locale(context.get("company"), locale_used, self.default_locale)
        variables = {**context, "locale": locale_used, "company": company}
        if context.get("incident") is not None:
            variables["incident"] = incident_for_locale(context["incident"], locale_used)
        try:
            with render_budget(self.limits):
                parts = render_parts(template, variables, channel == "email", self.limits)
        except Exception as exc:  # a template may raise anything: it is the template's fault
            raise TemplateError(locate(exc, self.templates_dir, path)) from exc
        if channel == "email":
            subject = " ".join(parts["subject"].split())
            return Rendered(
                message, channel, used, path, parts["text"], subject=subject, html=parts["html"]
            )
        text = parts["body"]
        if channel != "sms":
            return Rendered(message, channel, used, path, text)
        info = count_segments(text)
        if self.transliterate:
            plain = transliterate(text)
            plain_info = count_segments(plain)
            if plain_info.segments < info.segments:
                text, info = plain, plain_info
        return Rendered(message, channel, used, path, text, sms=info)

    async def render_async(
        self, message: str, channel: ChannelName, locale: str, context: Mapping[str, object]
    ) -> Rendered:
        """``render`` in a worker thread, so a slow template never blocks the event loop."""
        late = partial(self._still_running, message, channel, locale)
        return await self._pool.run(self.render, message, channel, locale, context, on_timeout=late)

    async def render_many_async(self, jobs: Sequence[RenderJob]) -> list[Rendered | TemplateError]:
        """``render`` for every job, in order, in one trip to a worker thread.

        A job that fails comes back as its TemplateError, in its place; the others render.
        Cheaper than one ``render_async`` per message: one hand-off to the thread and back
        for the whole batch. Each render keeps its own time limit.
        """
        results = await self._pool.run_each(self._render_job, jobs, on_timeout=self._job_late)
        return [r if isinstance(r, Rendered | TemplateError) else _unexpected(r) for r in results]

    def _render_job(self, job: RenderJob) -> Rendered:
        return self.render(job.message, job.channel, job.locale, job.context)

    def _job_late(self, job: RenderJob) -> TemplateError:
        return self._still_running(job.message, job.channel, job.locale)

    def _still_running(self, message: str, channel: ChannelName, locale: str) -> TemplateError:
        # The render overran its own deadline inside one long operation: stop waiting.
        path = self.template_path(message, channel, locale) or self.templates_dir / message
        seconds = self.limits.timeout.total_seconds()
        text = f"template exceeds the {seconds:g} s time limit (NOTIFIER_RENDER_TIMEOUT)"
        return TemplateError(Problem(str(path), 1, 1, f"{text} and is still running"))

    def check_message(self, message: str, channel: ChannelName, locale: str) -> list[Problem]:
        """Render against every sample: errors for failures and SMS over 1,600 characters,
        warnings for SMS over ``max_sms_segments``; each at the template's path:line:column."""
        name = self._resolve(message, channel, locale)
        if name is None:
            return [self._missing(message, channel, locale)]
        problems: dict[str, Problem] = {}
        for sample, context in SAMPLES.items():
            try:
                rendered = self.render(message, channel, locale, sample_for(message, context))
                found = (
                    sms_problems(
                        rendered.text, rendered.sms, rendered.path, sample, self.max_sms_segments
                    )
                    if rendered.sms is not None
                    else []
                )
            except TemplateError as exc:
                problems.setdefault(exc.problem.message, exc.problem)
                if isinstance(exc.__cause__, LimitExceeded):
                    break  # a bomb: the other samples would only spend the same again
                continue
            except Exception as exc:  # never let one template stop the whole check
                path = str(self.templates_dir / name)
                problems.setdefault(str(exc), Problem(path, 1, 1, f"cannot check: {exc!r}"))
                break
            for problem in found:
                problems.setdefault(problem.message.split(" (sample")[0], problem)
        return sorted(problems.values())

    def _resolve(self, message: str, channel: str, locale: str) -> str | None:
        key = (message, channel, locale)
        if key not in self._resolved:
            self._resolved[key] = next(
                (
                    f"{message}/{channel}.{loc}.j2"
                    for loc in self.fallback_chain(locale)
                    if (message, channel, loc) in self._files
                ),
                None,
            )
        return self._resolved[key]

    def _compile(self, name: str) -> tuple[Template, str]:
        # Remembered here, not only in Jinja2's cache, with the path every result names.
        compiled = self._compiled[name] = (self._template(name), str(self.templates_dir / name))
        return compiled

    def _template(self, name: str) -> Template:
        try:
            return self._env.get_template(name)
        except Exception as exc:  # syntax, an unreadable file, a parser pushed too deep
            template_path = str(self.templates_dir / name)
            raise TemplateError(locate(exc, self.templates_dir, template_path)) from exc

    def _missing(self, message: str, channel: str, locale: str) -> Problem:
        tried = ", ".join(f"{channel}.{loc}.j2" for loc in self.fallback_chain(locale))
        where = self.templates_dir / message
        if message not in self.messages():
            return Problem(str(where), 1, 1, f"no message {message!r} in {self.templates_dir}")
        return Problem(str(where), 1, 1, f"no template for {channel} in {locale} (tried {tried})")


def _unexpected(exc: Exception) -> Rendered:
    # render() turns every template failure into a TemplateError: anything else is a bug.
    raise exc


def _index(root: Path) -> Iterator[tuple[tuple[str, str, str], Path]]:
    if not root.is_dir():
        return
    for path in sorted(root.glob("*/*.j2")):
        match = _FILE.match(path.name)
        folder = path.parent.name
        if match and not folder.startswith("_") and match["channel"] in CHANNELS:
            yield (folder, match["channel"], match["locale"]), path
