"""The demo stand-in: prints what would be sent and keeps it, never reaches anyone."""

from __future__ import annotations

import itertools
import sys
from typing import TextIO

from notifier.channels.base import OutboundMessage, Receipt
from notifier.domain.models import ChannelName


class ConsoleChannel:
    """Prints each message on ``stream`` and records it in ``sent``; used only in demo mode."""

    def __init__(self, name: ChannelName, stream: TextIO | None = None) -> None:
        self.name: ChannelName = name
        self.stream = stream
        self.sent: list[OutboundMessage] = []
        self._ids = itertools.count(1)

    async def send(self, message: OutboundMessage) -> Receipt:
        """Print ``message`` and return a console receipt."""
        self.sent.append(message)
        provider_id = f"console-{self.name}-{next(self._ids)}"
        subject = f" [{message.subject}]" if message.subject else ""
        print(
            f"--- {self.name} to {message.to}{subject} ({message.message_name}, "
            f"{message.locale}) {provider_id}\n{message.text}",
            file=self.stream or sys.stdout,
            flush=True,
        )
        return Receipt(provider_id=provider_id, status="printed")

    async def aclose(self) -> None:
        """Nothing to close."""
