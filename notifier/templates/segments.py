"""SMS cost: GSM-7 or UCS-2 encoding, segment counting and opt-in, meaning-safe transliteration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 default alphabet (3GPP TS 23.038, 6.2.1), without the escape code 0x1B.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these costs two septets (escape + code).
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_GSM7 = 160
SINGLE_UCS2 = 70
# A concatenated message spends 6 bytes of each segment on the UDH header.
MULTI_GSM7 = 153
MULTI_UCS2 = 67

# What transliteration may replace: typography and spaces only, in every language.
# No letter is ever replaced: in Spanish and Portuguese an accent or a cedilla can carry
# the meaning ("llegó" is not "llego", "llegará" is not "llegara", "faça" is not
# "faca", "é" is not "e"), and a name is spelt as its owner spells it. "ñ", "é", "ü",
# "¿" and "¡" are GSM-7 already and stay as they are.
SAFE_REPLACEMENTS = {
    "‘": "'",
    "’": "'",
    "‚": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "‐": "-",
    "…": "...",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    "\t": " ",
}

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How an SMS body travels: encoding, units (septets or UTF-16 units) and segments."""

    encoding: Encoding
    units: int
    segments: int


_GSM7 = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in GSM-7 (basic or extension table)."""
    return _GSM7.issuperset(text)


def count_segments(text: str) -> SegmentInfo:
    """Return the encoding, units and segments ``text`` needs as one SMS (0 segments if empty)."""
    # Counted with str and set methods: this runs once or twice per SMS rendered.
    if is_gsm7(text):
        wide = sum(text.count(ch) for ch in GSM7_EXTENSION.intersection(text))
        encoding: Encoding = "GSM-7"
        single, multi = SINGLE_GSM7, MULTI_GSM7
    else:
        # Characters past U+FFFF take two UTF-16 units (a lone surrogate takes one).
        wide = len(text.encode("utf-16-le", "surrogatepass")) // 2 - len(text)
        encoding, single, multi = "UCS-2", SINGLE_UCS2, MULTI_UCS2
    units = len(text) + wide
    if units <= single:
        return SegmentInfo(encoding, units, 1 if units else 0)
    if not wide:  # no pair to keep whole: every segment but the last is full
        return SegmentInfo(encoding, units, -(-units // multi))
    if encoding == "GSM-7":
        sizes = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    else:
        sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentInfo(encoding, units, _segments(sizes, multi))


def _segments(sizes: list[int], multi: int) -> int:
    # An escape pair or a surrogate pair is never split across two segments,
    # so a segment may carry one unit less than ``multi``.
    segments, used = 1, 0
    for size in sizes:
        if used + size > multi:
            segments, used = segments + 1, 0
        used += size
    return segments


def transliterate(text: str) -> str:
    """Return ``text`` with typography GSM-7 lacks made plain (“ -> ", — -> -, … -> ...).

    Letters are kept, accents and all: see ``SAFE_REPLACEMENTS``.
    """
    return "".join(SAFE_REPLACEMENTS.get(ch, ch) for ch in text)
