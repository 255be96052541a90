"""``notifier messages preview``: a message as the customer will see it, with a sample context."""

from __future__ import annotations

from pathlib import Path

import typer

from notifier.cli.app import JsonOption, app, emit_json, fail, settings
from notifier.domain.models import CHANNELS, ChannelName, is_channel
from notifier.domain.ops_notices import OPS_PREFIX
from notifier.engine.delivery.compose import OPS_LOCALE
from notifier.templates import SAMPLES, Company, Rendered, Renderer, RenderLimits
from notifier.templates.samples import sample_for

messages_app = typer.Typer(
    help="Preview the messages in the templates folder.", no_args_is_help=True
)
app.add_typer(messages_app, name="messages")


@messages_app.command("preview")
def preview(
    message: str = typer.Argument(..., help="The message folder, e.g. delivery_late."),
    channel: str | None = typer.Option(
        None, "--channel", "-c", help="sms, whatsapp, email or x (default: every one)."
    ),
    locale: str | None = typer.Option(
        None, "--locale", "-l", help="Default: NOTIFIER_DEFAULT_LOCALE."
    ),
    sample: str = typer.Option("delivery", "--sample", "-s", help=f"One of: {', '.join(SAMPLES)}."),
    as_json: bool = JsonOption,
) -> None:
    """Render MESSAGE with a named sample context, as the customer will see it."""
    config = settings()
    renderer = Renderer(
        Path(config.templates_dir),
        default_locale=config.default_locale,
        max_sms_segments=config.max_sms_segments,
        transliterate=config.sms_transliterate,
        limits=RenderLimits.from_settings(config.render),
    )
    if message not in renderer.messages():
        known = ", ".join(renderer.messages()) or "none"
        fail(f"unknown message {message!r} in {config.templates_dir} (known: {known})")
    if sample not in SAMPLES:
        fail(f"unknown sample {sample!r} (known: {', '.join(SAMPLES)})")
    if channel is not None and not is_channel(channel):
        fail(f"unknown channel {channel!r} (known: {', '.join(CHANNELS)})")
    channels: list[ChannelName] = (
        [c for c in CHANNELS if c == channel] if channel else renderer.channels(message)
    )
    wanted = locale or config.default_locale
    # The sample's customer and promise, but the company as configured: what customers see.
    # The renderer picks each per-locale company text for the locale it renders.
    context = {
        **sample_for(message, SAMPLES[sample]),
        "company": Company.from_settings(config.messages).as_context(),
    }
    rendered = [renderer.render(message, c, _locale(renderer, message, c, wanted), context)
                for c in channels]  # fmt: skip
    if as_json:
        emit_json([_as_dict(r) for r in rendered])
        return
    for index, r in enumerate(rendered):
        if index:
            typer.echo("")
        typer.echo(_as_text(r))


def _locale(renderer: Renderer, message: str, channel: ChannelName, wanted: str) -> str:
    # As the dispatcher renders ops messages: English unless one ships in ``wanted``.
    if message.startswith(OPS_PREFIX) and renderer.template_path(message, channel, wanted) is None:
        return OPS_LOCALE
    return wanted


def _as_dict(r: Rendered) -> dict[str, object]:
    sms = (
        {"encoding": r.sms.encoding, "units": r.sms.units, "segments": r.sms.segments}
        if r.sms
        else None
    )
    return {
        "message": r.message,
        "channel": r.channel,
        "locale": r.locale,
        "path": r.path,
        "subject": r.subject,
        "text": r.text,
        "html": r.html,
        "sms": sms,
        "characters": len(r.text),
    }


def _as_text(r: Rendered) -> str:
    head = f"== {r.channel} ({r.locale}, {r.path})"
    if r.sms is not None:
        head += (
            f" -- {r.sms.segments} segment{'s' if r.sms.segments != 1 else ''}, {r.sms.encoding}, "
            f"{len(r.text)} characters"
        )
    if r.channel != "email":
        return f"{head}\n{r.text}"
    return f"{head}\nSubject: {r.subject}\n\n-- text part --\n{r.text}\n\n-- html part --\n{r.html}"
