"""``notifier channels``: what each channel is configured as, and a real test send."""

from __future__ import annotations

import uuid
from dataclasses import replace

import typer

from notifier.channels.base import OutboundMessage, Receipt, SendError
from notifier.channels.registry import ChannelStatus, build_channels
from notifier.channels.twilio_whatsapp import content_sid_for
from notifier.cli.app import JsonOption, app, emit_json, fail, run_async, settings
from notifier.cli.startup_checks import require_links
from notifier.clock import system_clock
from notifier.config import Settings
from notifier.domain.models import CHANNELS, ChannelName, is_channel
from notifier.engine.delivery.compose import Recipient, outbound_message
from notifier.templates import SAMPLES, Renderer

channels_app = typer.Typer(
    help="Channels: list how each is configured; send a test message.",
    invoke_without_command=True,
)
app.add_typer(channels_app, name="channels")

# The sample context that fits each shipped message; anything else gets "delivery".
SAMPLE_FOR = {
    "refund_late": "refund",
    "callback_missed": "callback",
    "appointment_rescheduled": "window",
}


@channels_app.callback()
def channels_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List every channel: configured (provider, sender), unavailable (why), or console."""
    if ctx.invoked_subcommand is not None:
        return
    s = settings()
    statuses = list(build_channels(s.providers, demo=s.demo))
    if as_json:
        emit_json([_status_json(status) for status in statuses])
        return
    for status in statuses:
        typer.echo(status.describe())


@channels_app.command("send")
def channels_send(
    channel: str = typer.Argument(..., help="sms, whatsapp, email or x."),
    address: str = typer.Argument(..., help="Phone (E.164), email address or X user id."),
    message: str = typer.Option("delivery_late", "--message", help="Shipped message name."),
    locale: str | None = typer.Option(None, "--locale", help="Locale (NOTIFIER_DEFAULT_LOCALE)."),
    variables: list[str] = typer.Option(
        [], "--var", help="WhatsApp ContentVariables entry KEY=VALUE (repeatable)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Render a shipped message with sample data and send it for real; exit 1 on failure."""
    if not is_channel(channel):
        raise typer.BadParameter(
            f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})", param_hint="CHANNEL"
        )
    name: ChannelName = channel  # type: ignore[assignment]  # is_channel checked it
    content_variables = dict(_pair(v) for v in variables)
    s = settings()
    if name == "email":
        require_links(s)
    outbound = build_test_message(s, name, address, message, locale or s.default_locale)
    outbound = _with_variables(outbound, content_variables)
    result = run_async(_send(s, outbound))
    if isinstance(result, SendError):
        if as_json:
            emit_json(
                {
                    "channel": name,
                    "ok": False,
                    "kind": result.kind,
                    "reason": str(result.reason),
                    "code": result.code,
                    "message": result.provider_message,
                }
            )
        else:
            code = f" {result.code}" if result.code else ""
            typer.echo(
                f"{name}: {result.kind} ({result.reason}{code}): {result.provider_message}",
                err=True,
            )
        raise typer.Exit(1)
    if as_json:
        emit_json(
            {
                "channel": name,
                "ok": True,
                "provider_id": result.provider_id,
                "status": result.status,
                "detail": dict(result.detail),
            }
        )
    else:
        typer.echo(f"{name}: sent, provider id {result.provider_id} ({result.status})")


def build_test_message(
    s: Settings, channel: ChannelName, address: str, message: str, locale: str
) -> OutboundMessage:
    """Return the message a real notification would be, from sample data and a one-off key.

    Built by the dispatcher's own message builder; it goes straight to the channel, not
    through the outbox (no daemon needed).
    """
    sample = SAMPLES[SAMPLE_FOR.get(message, "delivery")]
    rendered = Renderer.from_settings(s.render).render(message, channel, locale, sample)
    templated = content_sid_for(s.whatsapp_content_sids, message, rendered.locale) is not None
    # The address stands in for a customer id: the link opts out only this address. With
    # no template mapped, ops test the free-form body; Twilio answers 63016 unless they
    # wrote to the WhatsApp sender in the last 24 hours.
    recipient = Recipient(
        link_id=address, whatsapp_session_open=channel == "whatsapp" and not templated
    )
    key = f"test:{channel}:{uuid.uuid4().hex}"
    return outbound_message(
        s.links, key, rendered, channel, address, recipient, system_clock(s.clock).now()
    )


async def _send(s: Settings, outbound: OutboundMessage) -> Receipt | SendError:
    channels = build_channels(s.providers, demo=s.demo)
    channel = channels.get(outbound.channel)
    if channel is None:
        fail(channels.statuses[outbound.channel].describe())
    try:
        return await channel.send(outbound)
    except SendError as error:
        return error
    finally:
        await channels.aclose()


def _with_variables(outbound: OutboundMessage, variables: dict[str, str]) -> OutboundMessage:
    return replace(outbound, content_variables=variables) if variables else outbound


def _pair(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise typer.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--var")
    return key, value


def _status_json(status: ChannelStatus) -> dict[str, str]:
    return {
        "channel": status.name,
        "state": status.state,
        "provider": status.provider,
        "sender": status.sender,
        "reason": status.reason,
    }
