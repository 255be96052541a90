"""Settings that cannot work, worded for the person who set them: one line per variable.

pydantic's own text ("1 validation error for Settings / scan_interval / Value error, ...")
names the field, not the environment variable, and takes four lines for one problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError as SourceError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from notifier.domain.errors import NotifierError

PREFIX = "NOTIFIER_"
_SOURCE_FIELD = re.compile(r'field "(\w+)"')
_URL_PASSWORD = re.compile(r"(//[^/:@]*:)[^/]*@")

# How pydantic's built-in checks read when the value came from an environment variable.
_REASONS: dict[str, str] = {
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "float_parsing": "is not a number",
    "finite_number": "is not a finite number",
    "bool_parsing": "is not a boolean (true or false)",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "literal_error": "must be one of {expected}",
    "json_invalid": "is not valid JSON",
    "dict_type": "is not a JSON object",
    "string_type": "is not text",
    "datetime_parsing": "is not an ISO 8601 instant (e.g. 2026-11-24T09:00:00-03:00)",
    "datetime_from_date_parsing": "is not an ISO 8601 instant (e.g. 2026-11-24T09:00:00-03:00)",
    "timezone_aware": "needs a UTC offset (e.g. 2026-11-24T09:00:00-03:00)",
    "string_too_short": "must be at least {min_length} characters long",
    "too_short": "must be at least {min_length} characters long",  # SecretStr's check
}


class SettingsError(NotifierError):
    """Settings that stop start-up; ``problems`` holds one line per variable at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def describe(exc: ValidationError | SourceError, fields: Mapping[str, FieldInfo]) -> list[str]:
    """Return one ``NOTIFIER_X: 'value' what is wrong`` line per problem in ``exc``."""
    if isinstance(exc, SourceError):  # a JSON setting that does not parse at all
        found = _SOURCE_FIELD.search(str(exc))
        name = found.group(1) if found else ""
        return [f"{variable(name, fields)}: is not valid JSON ({exc.__cause__ or exc})"]
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        reason = _reason(error)
        if not loc:  # a check across settings: its message names the variables itself
            problems.append(reason)
            continue
        name = str(loc[0])
        inner = "".join(f"[{part!r}]" for part in loc[1:])
        value = _shown(name, error.get("input"), fields)
        problems.append(f"{variable(name, fields)}{inner}: {value} {reason}".replace("  ", " "))
    return problems


def variable(name: str, fields: Mapping[str, FieldInfo]) -> str:
    """The environment variable behind field ``name`` (an alias such as TWILIO_AUTH_TOKEN as is)."""
    if name in fields or not name.isupper():
        return PREFIX + name.upper()
    return name


def _reason(error: Any) -> str:
    kind = str(error["type"])
    if kind == "value_error":  # our validators word their own reason
        return str(error["msg"]).removeprefix("Value error, ")
    template = _REASONS.get(kind)
    if template is None:
        return str(error["msg"])
    return template.format(**{k: _number(v) for k, v in (error.get("ctx") or {}).items()})


def _number(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _shown(name: str, value: object, fields: Mapping[str, FieldInfo]) -> str:
    """``value`` as the message may show it: secrets never, a URL's password masked."""
    field = fields.get(name)
    annotation = str(field.annotation) if field is not None else ""
    if isinstance(value, SecretStr) or "SecretStr" in annotation:
        return "(value hidden)"
    if not isinstance(value, str):
        return repr(value)
    if name == "database_url":
        try:
            value = make_url(value).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):
            value = _URL_PASSWORD.sub(r"\1***@", value)
    return repr(value)
