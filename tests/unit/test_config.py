"""Settings: what a blank value means, and that a refused secret is never echoed."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import pytest
from pydantic import AwareDatetime, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.config import Settings, load_settings
from notifier.config_errors import SettingsError, describe


@pytest.mark.parametrize("blank", ["", "   "], ids=["empty", "spaces"])
def test_a_blank_api_token_is_no_token(blank: str) -> None:
    assert Settings(api_token=SecretStr(blank)).api_token is None


UNSET_BY_DEFAULT = sorted(n for n, f in Settings.model_fields.items() if f.default is None)


@pytest.mark.parametrize("name", UNSET_BY_DEFAULT)
@pytest.mark.parametrize("blank", ["", "  "], ids=["empty", "spaces"])
def test_a_blank_value_of_a_setting_that_may_be_unset_is_unset(name: str, blank: str) -> None:
    # An env file's `NAME=` is what compose passes: never an empty key, URL or address.
    assert getattr(Settings(**{name: blank}), name) is None


def test_a_blank_value_keeps_its_meaning_where_a_setting_has_a_default() -> None:
    assert Settings(company_name="").company_name == ""
    assert {"twilio_webhook_shared_key", "public_url", "ops_email"} <= set(UNSET_BY_DEFAULT)


def test_the_defaults_are_valid() -> None:
    assert Settings().scan_interval.total_seconds() == 30


class _WithSecret(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_")
    secret_key: Annotated[SecretStr, Field(min_length=32)]


def test_a_refused_secret_is_named_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_SECRET_KEY", "short-secret")
    with pytest.raises(ValidationError) as caught:
        _WithSecret()
    [line] = describe(caught.value, _WithSecret.model_fields)
    assert line == "NOTIFIER_SECRET_KEY: (value hidden) must be at least 32 characters long"


class _CrossChecked(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_")
    test_mode: bool = False
    now: AwareDatetime | None = None

    @model_validator(mode="after")
    def _now_in_test_mode_only(self) -> _CrossChecked:
        if self.now is not None and not self.test_mode:
            raise ValueError("NOTIFIER_NOW is read in test mode only: set NOTIFIER_TEST_MODE=1")
        return self


@pytest.mark.parametrize(
    ("now", "line"),
    [
        pytest.param(
            "2026-11-24T09:00:00-03:00",
            "NOTIFIER_NOW is read in test mode only: set NOTIFIER_TEST_MODE=1",
            id="across-settings",
        ),
        pytest.param(
            "tomorrow",
            "NOTIFIER_NOW: 'tomorrow' is not an ISO 8601 instant (e.g. 2026-11-24T09:00:00-03:00)",
            id="not-an-instant",
        ),
        pytest.param(
            "2026-11-24T09:00:00",
            "NOTIFIER_NOW: '2026-11-24T09:00:00' needs a UTC offset "
            "(e.g. 2026-11-24T09:00:00-03:00)",
            id="naive",
        ),
    ],
)
def test_instants_and_checks_across_settings_read_as_one_line(
    monkeypatch: pytest.MonkeyPatch, now: str, line: str
) -> None:
    monkeypatch.setenv("NOTIFIER_NOW", now)
    with pytest.raises(ValidationError) as caught:
        _CrossChecked()
    assert describe(caught.value, _CrossChecked.model_fields) == [line]


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        pytest.param("90d", timedelta(days=90), id="default-spelled"),
        pytest.param("1d", timedelta(days=1), id="shortest"),
        pytest.param("2w3d", timedelta(days=17), id="weeks-and-days"),
        pytest.param("off", None, id="off"),
        pytest.param(" OFF ", None, id="off-any-case"),
    ],
)
def test_the_retention_is_a_duration_of_a_day_or_more_or_off(
    monkeypatch: pytest.MonkeyPatch, value: str, kept: timedelta | None
) -> None:
    monkeypatch.setenv("NOTIFIER_RETENTION", value)
    assert load_settings().purge.retention == kept


def test_the_retention_defaults_to_90_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_RETENTION", raising=False)
    assert load_settings().purge.retention == timedelta(days=90)


@pytest.mark.parametrize(
    ("value", "line"),
    [
        pytest.param("0d", "NOTIFIER_RETENTION: '0d' must be at least 1d, or off to keep "
                     "everything", id="zero"),
        pytest.param("12h", "NOTIFIER_RETENTION: '12h' must be at least 1d, or off to keep "
                     "everything", id="under-a-day"),
        pytest.param("99999999d", "NOTIFIER_RETENTION: '99999999d' must be at most 3650d, or "
                     "off to keep everything", id="past-year-one"),
        pytest.param("90", "NOTIFIER_RETENTION: '90' is not a duration (e.g. 30s, 5m)",
                     id="no-unit"),
        pytest.param("never", "NOTIFIER_RETENTION: 'never' is not a duration (e.g. 30s, 5m)",
                     id="a-word"),
    ],
)  # fmt: skip
def test_a_bad_retention_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, line: str
) -> None:
    monkeypatch.setenv("NOTIFIER_RETENTION", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == line
