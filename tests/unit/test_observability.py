"""Logs never carry a full phone number, an email address, a message body or a secret,
and an exception in JSON is data (type, message, frames), never traceback text."""

from __future__ import annotations

import json
import logging
import threading
import warnings
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from notifier.config import Settings
from notifier.observability import configure_logging, mask, mask_email, mask_phone

# configure_logging changes process-wide state: each test gets it back as it was.
pytestmark = pytest.mark.usefixtures("restored_logging")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [json.loads(line) for line in err.splitlines()]


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        pytest.param("+5491155551234", "+54911****1234", id="phone"),
        pytest.param("ana.perez@example.com", "a***@example.com", id="email"),
        pytest.param(
            "to +5511987654321 and jo@x.io", "to +55119****4321 and j***@x.io", id="mixed"
        ),
        pytest.param("order 12345", "order 12345", id="short-digits-untouched"),
        pytest.param("+54 9 11 5555-1234", "+54911****1234", id="formatted-phone"),
        pytest.param("call +1 (212) 555-0117 now", "call +121****0117 now", id="parentheses"),
        pytest.param("+52.55.5555.0104", "+5255****0104", id="dots"),
        pytest.param("To=%2B5491155551234&Body=x", "To=+54911****1234&Body=x", id="url-encoded"),
        pytest.param(
            "at 2026-12-01T21:30:42+00:00",
            "at 2026-12-01T21:30:42+00:00",
            id="utc-offset-untouched",
        ),
        pytest.param("amount 1e+27", "amount 1e+27", id="exponent-untouched"),
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


class _Customer:
    def __repr__(self) -> str:
        return "Customer(phone='+5491155551234', email='ana.perez@example.com')"


def test_every_value_is_masked_nested_in_lists_or_in_a_repr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    structlog.get_logger("t").info(
        "import.row",
        row={"phones": ["+54 9 11 5555-1234"], "contact": {"mail": "ana.perez@example.com"}},
        found=_Customer(),
        message={"subject": "Tu pedido", "html": "<p>Hola</p>"},
    )
    [line] = _lines(capsys)
    shown = json.dumps(line)
    for secret in ("5555-1234", "+5491155551234", "ana.perez", "Tu pedido", "Hola"):
        assert secret not in shown
    assert line["row"] == {"phones": ["+54911****1234"], "contact": {"mail": "a***@example.com"}}
    assert line["message"] == {"subject": "[withheld]", "html": "[withheld]"}


def _fail(address: str) -> None:
    raise ValueError(f"cannot reach {address}")


def test_an_exception_is_logged_as_data_with_frames_and_no_locals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    secret_local = "+5491155559999"  # noqa: F841  # a local the frames must not carry
    try:
        _fail("+54 9 11 5555-1234")
    except ValueError:
        structlog.get_logger("t").exception("scan.error", promise_id=7)
    # Only this line: a collected leftover of an earlier test (an unclosed aiohttp session,
    # say) may log in between, and is not what this test is about.
    [line] = [entry for entry in _lines(capsys) if entry.get("event") == "scan.error"]
    assert (line["event"], line["level"], line["promise_id"]) == ("scan.error", "error", 7)
    [exc] = line["exception"]
    assert (exc["exc_type"], exc["exc_value"]) == ("ValueError", "cannot reach +54911****1234")
    assert [f["name"] for f in exc["frames"]] == [
        "test_an_exception_is_logged_as_data_with_frames_and_no_locals",
        "_fail",
    ]
    assert all(set(f) == {"filename", "lineno", "name"} for f in exc["frames"])
    assert exc["frames"][-1]["filename"].endswith("test_observability.py")
    assert "5555" not in json.dumps(line).replace("****", "")


def test_a_chained_exception_keeps_both_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        try:
            _fail("the relay")
        except ValueError as exc:
            raise RuntimeError("send failed") from exc
    except RuntimeError:
        structlog.get_logger("t").exception("dispatch.error")
    [line] = _lines(capsys)
    assert [(e["exc_type"], e["is_cause"]) for e in line["exception"]] == [
        ("RuntimeError", False),
        ("ValueError", True),
    ]


@pytest.mark.parametrize("name", ["uvicorn.error", "uvicorn.access", "uvicorn", "asyncio"])
def test_standard_library_records_go_through_the_same_pipeline(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    configure_logging("INFO", "json")
    try:
        _fail("ana.perez@example.com")
    except ValueError:
        logging.getLogger(name).error("Exception in ASGI application\n", exc_info=True)
    logging.getLogger(name).info("below WARNING: a library's chatter is not shown")
    [line] = _lines(capsys)
    assert line["event"] == "Exception in ASGI application"
    assert (line["logger"], line["level"]) == (name, "error")
    assert "timestamp" in line
    [exc] = line["exception"]
    assert (exc["exc_type"], exc["exc_value"]) == ("ValueError", "cannot reach a***@example.com")
    assert exc["frames"][-1]["name"] == "_fail"


def test_configuring_twice_leaves_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    configure_logging("WARNING", "json")
    logging.getLogger("uvicorn.error").warning("once")
    assert [line["event"] for line in _lines(capsys)] == ["once"]


def test_a_threads_uncaught_exception_and_a_warning_are_json_lines_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    worker = threading.Thread(target=_fail, args=("+5491155551234",), name="worker")
    worker.start()
    worker.join()
    warnings.warn("pool not closed", RuntimeWarning, stacklevel=1)
    thread_line, warning_line = _lines(capsys)
    assert (thread_line["event"], thread_line["thread"]) == ("thread.uncaught", "worker")
    assert thread_line["exception"][0]["exc_value"] == "cannot reach +54911****1234"
    assert warning_line["logger"] == "py.warnings"
    assert "RuntimeWarning: pool not closed" in warning_line["event"]
