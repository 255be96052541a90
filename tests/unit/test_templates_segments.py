"""SMS segment counting (GSM-7 with its extension table, UCS-2) and transliteration."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.templates import SegmentInfo, count_segments, transliterate
from notifier.templates.segments import GSM7_BASIC, GSM7_EXTENSION

CASES = [
    pytest.param("", SegmentInfo("GSM-7", 0, 0), id="empty"),
    pytest.param("a" * 160, SegmentInfo("GSM-7", 160, 1), id="gsm7-one-full"),
    pytest.param("a" * 161, SegmentInfo("GSM-7", 161, 2), id="gsm7-161-needs-two"),
    pytest.param("a" * 306, SegmentInfo("GSM-7", 306, 2), id="gsm7-two-full"),
    pytest.param("a" * 307, SegmentInfo("GSM-7", 307, 3), id="gsm7-307-needs-three"),
    pytest.param("€" * 80, SegmentInfo("GSM-7", 160, 1), id="extension-counts-two"),
    pytest.param(
        "a" * 152 + "€" + "a" * 152, SegmentInfo("GSM-7", 306, 3), id="escape-pair-not-split"
    ),
    pytest.param("ñandú", SegmentInfo("UCS-2", 5, 1), id="u-acute-is-not-gsm7"),
    pytest.param("ñ" * 160, SegmentInfo("GSM-7", 160, 1), id="enye-is-gsm7"),
    pytest.param("á" * 70, SegmentInfo("UCS-2", 70, 1), id="ucs2-one-full"),
    pytest.param("á" * 71, SegmentInfo("UCS-2", 71, 2), id="ucs2-71-needs-two"),
    pytest.param("á" * 134, SegmentInfo("UCS-2", 134, 2), id="ucs2-two-full"),
    pytest.param("😀" * 35, SegmentInfo("UCS-2", 70, 1), id="emoji-is-two-units"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_count_segments(text: str, expected: SegmentInfo) -> None:
    assert count_segments(text) == expected


def test_one_accent_doubles_the_cost_of_a_spanish_sms() -> None:
    text = "Perdon, tu pedido no llego el lunes como prometimos. " * 4
    assert count_segments(text).segments == 2
    assert count_segments(text.replace("llego", "llegó", 1)).segments == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Accents carry meaning ("llegó" is not "llego"): letters are never replaced.
        pytest.param("Perdón, María: no llegó", "Perdón, María: no llegó", id="spanish-kept"),
        pytest.param("não, serviço, às", "não, serviço, às", id="portuguese-kept"),
        pytest.param("Ñandú, ¿qué? ¡Sí!", "Ñandú, ¿qué? ¡Sí!", id="gsm7-letters-stay"),
        pytest.param("é è ü ö à Ç", "é è ü ö à Ç", id="gsm7-accents-stay"),
        pytest.param("“hola” — ‘ok’…", "\"hola\" - 'ok'...", id="typography"),
        pytest.param("12\u00a0h", "12 h", id="no-break-space"),
        pytest.param("東京", "東京", id="no-gsm7-spelling-kept"),
    ],
)
def test_transliterate(text: str, expected: str) -> None:
    assert transliterate(text) == expected


@given(st.text(alphabet="abcáéíóúãõçñÁÉÍÓÚ ,.€{}“”—…", max_size=400))
def test_transliteration_keeps_every_letter_and_never_costs_more(text: str) -> None:
    plain = transliterate(text)
    letters = [c for c in text if c.isalpha()]
    assert [c for c in plain if c.isalpha()] == letters
    assert count_segments(plain).segments <= count_segments(text).segments


def _counted_one_by_one(text: str) -> SegmentInfo:
    # The definition, character by character: what count_segments must agree with.
    gsm = all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)
    if gsm:
        sizes, single, multi = [2 if ch in GSM7_EXTENSION else 1 for ch in text], 160, 153
    else:
        sizes, single, multi = [2 if ord(ch) > 0xFFFF else 1 for ch in text], 70, 67
    segments, used = (0 if not sizes else 1), 0
    if sum(sizes) > single:
        for size in sizes:
            if used + size > multi:
                segments, used = segments + 1, 0
            used += size
    return SegmentInfo("GSM-7" if gsm else "UCS-2", sum(sizes), segments)


@given(st.text(alphabet="ab €{}á😀\ud800", max_size=700))
def test_count_segments_agrees_with_counting_one_by_one(text: str) -> None:
    assert count_segments(text) == _counted_one_by_one(text)
