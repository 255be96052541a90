"""Logs never carry a full phone number, an email address, a message body or a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog
from pydantic import SecretStr

from notifier.config import Settings
from notifier.observability import configure_logging, mask, mask_email, mask_phone


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        pytest.param("+5491155551234", "+54911****1234", id="phone"),
        pytest.param("ana.perez@example.com", "a***@example.com", id="email"),
        pytest.param(
            "to +5511987654321 and jo@x.io", "to +55119****4321 and j***@x.io", id="mixed"
        ),
        pytest.param("order 12345", "order 12345", id="short-digits-untouched"),
    ],
)
def test_mask(raw: str, masked: str) -> None:
    assert mask(raw) == masked


def test_masks_compose() -> None:
    assert mask_email(mask_phone("+5491155551234")) == "+54911****1234"


def test_json_logs_mask_addresses_and_withhold_bodies(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    structlog.get_logger("t").info(
        "notification.sent",
        to="+5491155551234",
        email="ana.perez@example.com",
        error="Twilio refused +5491155551234",
        body="Hola Ana, perdón por la demora",
        notification_id=7,
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["to"] == "+54911****1234" and line["email"] == "a***@example.com"
    assert "+5491155551234" not in json.dumps(line)
    assert line["body"] == "[withheld]" and line["notification_id"] == 7


def test_secrets_never_show_in_settings_output() -> None:
    s = Settings(
        twilio_auth_token=SecretStr("tw-secret-123"),
        smtp_password=SecretStr("smtp-secret-456"),
        api_token=SecretStr("api-secret-789"),
    )
    shown = repr(s) + str(s) + s.model_dump_json()
    for secret in ("tw-secret-123", "smtp-secret-456", "api-secret-789"):
        assert secret not in shown
