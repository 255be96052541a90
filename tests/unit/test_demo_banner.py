"""The demo's banner never prints an empty bearer token: it says how to set one."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from notifier.cli.daemon import _banner
from notifier.config import Settings


def test_the_banner_shows_the_token_and_a_curl_that_uses_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _banner(Settings(api_token=SecretStr("demo-token")), True, 24, 50)
    err = capsys.readouterr().err
    assert "(bearer token: demo-token)" in err
    assert "curl -H 'Authorization: Bearer demo-token' " in err


def test_without_a_token_the_banner_says_how_to_set_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _banner(Settings(api_token=None), True, 24, 50)
    err = capsys.readouterr().err
    assert "(no bearer token: set NOTIFIER_API_TOKEN)" in err
    assert "Bearer " not in err and "bearer token: )" not in err
