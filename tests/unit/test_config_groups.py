"""The settings groups: each a frozen view of Settings, fields named as the settings."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from notifier.config import Settings
from notifier.config.groups import ProviderSettings

GROUPS = (
    "http", "links", "clock", "messages", "render", "rules", "scan", "rates", "dispatch",
    "email", "twilio", "x", "providers", "purge", "events", "digest",
)  # fmt: skip
# Read by the process wiring itself (the store, the logs, demo mode), not by a group's consumer.
WIRING_ONLY = {"database_url", "demo", "log_level", "log_format"}


def test_every_setting_is_in_a_group_or_read_by_the_wiring() -> None:
    s = Settings()
    grouped = {f.name for g in GROUPS for f in dataclasses.fields(getattr(s, g))}
    assert set(Settings.model_fields) - grouped == WIRING_ONLY


def test_groups_copy_the_values_and_are_frozen() -> None:
    s = Settings(lease="90s", smtp_host="mail", dispatch_concurrency=5)  # type: ignore[arg-type]
    assert s.dispatch.lease == timedelta(seconds=90)
    assert s.email.smtp_host == "mail"
    assert s.providers == ProviderSettings(s.email, s.twilio, s.x, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.dispatch.lease = timedelta(0)  # type: ignore[misc]


def test_a_copy_with_updates_has_groups_of_the_new_values() -> None:
    s = Settings().model_copy(update={"demo": True, "scan_interval": timedelta(seconds=5)})
    assert s.scan.scan_interval == timedelta(seconds=5)
