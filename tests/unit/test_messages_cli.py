"""``notifier messages preview``: what ops see, and one clear line when asked for nonsense."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notifier.cli import main

ROOT = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture(autouse=True)
def _templates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_TEMPLATES_DIR", str(ROOT))
    monkeypatch.setenv("NOTIFIER_DEFAULT_LOCALE", "es")
    monkeypatch.delenv("NOTIFIER_SMS_TRANSLITERATE", raising=False)
    # The preview shows the configured company; an ampersand proves the HTML part escapes.
    monkeypatch.setenv("NOTIFIER_COMPANY_NAME", "Acme & Hijos")


def test_preview_every_channel(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messages", "preview", "delivery_late"]) == 0
    out = capsys.readouterr().out
    assert "== sms (es, " in out and "segments, UCS-2," in out
    subject = "Subject: Perdón: tu pedido de zapatillas Topper (ML-20261120-000104329-AR) viene"
    assert subject in out
    # What a real send carries: the promise's tracking_url, on every channel.
    assert out.count("https://acme.example/p/7Hq2Xk9") >= 4
    assert "-- text part --" in out and "-- html part --" in out and "Acme &amp; Hijos" in out
    assert "== whatsapp (es, " in out and "== x (es, " in out


def test_preview_json_with_locale_and_sample(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_SMS_TRANSLITERATE", "true")
    args = ["messages", "preview", "delivery_late", "-c", "sms", "-l", "es-AR", "-s", "accents"]
    assert main([*args, "--json"]) == 0
    [item] = json.loads(capsys.readouterr().out)
    assert item["locale"] == "es-AR" and item["channel"] == "sms"
    # Transliteration never touches a letter: the accents (and the full given names) stay.
    assert item["sms"] == {"encoding": "UCS-2", "units": item["characters"], "segments": 2}
    assert item["text"].startswith("Acme & Hijos: María José, perdón: tu pedido no llegó")


def test_preview_help_lists_the_samples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messages", "preview", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "One of: delivery, window, several, other_timezone, accents, refund, callback," in out


def test_preview_an_ops_message_in_english(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messages", "preview", "ops_channel_down"]) == 0
    out = capsys.readouterr().out
    assert "== email (en, " in out and "Subject: notifier: the whatsapp channel is down" in out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param(["nope"], "unknown message 'nope'", id="message"),
        pytest.param(["delivery_late", "--sample", "zzz"], "unknown sample 'zzz'", id="sample"),
        pytest.param(
            ["delivery_late", "--channel", "smss"], "unknown channel 'smss'", id="channel"
        ),
    ],
)
def test_unknown_names_fail_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    assert main(["messages", "preview", *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and error in err


def test_preview_a_crisis_message_with_the_sample_incident(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["messages", "preview", "crisis_resolved", "-c", "email", "-s", "crisis"]) == 0
    out = capsys.readouterr().out
    # The resolution reads the resolved incident and its own text, not the opening's.
    assert "Subject: Resuelto: Paro de transportistas en AMBA" in out
    assert "El paro terminó y los envíos volvieron a salir." in out
    assert "frena los envíos" not in out
