"""The keywords an inbound SMS or WhatsApp text may carry: opt out, opt in, help."""

from __future__ import annotations

from typing import Literal

InboundKind = Literal["stop", "start", "help", "other"]

# Carriers and Twilio honour these in English; BAJA, PARAR and SAIR are what Spanish and
# Portuguese speakers write.
KEYWORDS: dict[str, InboundKind] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "BAJA", "PARAR", "SAIR"),
        "stop",
    ),
    **dict.fromkeys(("START", "ALTA"), "start"),
    **dict.fromkeys(("HELP", "AYUDA", "AJUDA"), "help"),
}


def classify_inbound(text: str) -> InboundKind:
    """Return what an inbound text asks for; only a message that is just the keyword counts."""
    word = text.strip().strip(".!¡¿?").strip().upper()
    return KEYWORDS.get(word, "other")
