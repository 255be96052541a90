"""Settings: what a blank value means, and that a refused secret is never echoed."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.config import Settings
from notifier.config_errors import describe


@pytest.mark.parametrize("blank", ["", "   "], ids=["empty", "spaces"])
def test_a_blank_api_token_is_no_token(blank: str) -> None:
    assert Settings(api_token=SecretStr(blank)).api_token is None


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
