"""The texts ops write for an incident (headlines, updates): locale tags and size bounds.

The same for the command line (``--title-locale en=...``) and the maintenance files
(``title: {en: ...}``): a tag is canonical (``pt-BR``, ``es-AR``), a text is one line of
at most ``MAX_TEXT`` characters.
"""

from __future__ import annotations

import re

MAX_TEXT = 1000  # characters of one ops text: a headline or an update, not an essay
NOT_A_LOCALE = "not a locale: use a tag such as en, es-AR, pt-BR"
_TAG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def locale_tag(raw: str) -> str | None:
    """Return ``raw`` as a canonical locale tag (``pt_br`` -> ``pt-BR``), or None."""
    tag = raw.strip().replace("_", "-").lower()
    if not _TAG.fullmatch(tag):
        return None
    language, *rest = tag.split("-")
    return "-".join([language, *(r.upper() if len(r) == 2 else r for r in rest)])


def clean_text(text: str) -> str:
    """Return ``text`` on one line; raises ValueError when it is empty or too long."""
    found = " ".join(text.split())
    if not found:
        raise ValueError("empty text")
    if len(found) > MAX_TEXT:
        raise ValueError(f"{len(found)} characters; at most {MAX_TEXT}")
    return found
