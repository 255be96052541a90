"""Reading JSON columns: the deserializer both engines are given."""

from __future__ import annotations

import json
from typing import Any


def json_loads(text: str) -> Any:
    """``json.loads``, with the empty object and list most JSON columns hold answered at once.

    A scan reads three JSON columns per due promise, mostly ``{}`` or ``[]``.
    """
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return json.loads(text)
