"""Company texts per locale: one text for everyone, or one per locale tag.

``NOTIFIER_COMPANY_SUPPORT_HOURS`` and ``NOTIFIER_HELP_TEXT`` take a plain string
(every locale reads it) or a JSON object ``{"es": "...", "en": "...", "pt-BR": "..."}``.
A plain string is kept under ``EVERY_LOCALE``.
"""

from __future__ import annotations

from collections.abc import Mapping

EVERY_LOCALE = "*"

LocalText = Mapping[str, str]


def text_for(text: str | LocalText, locale: str, default_locale: str = "es") -> str:
    """Return the text for ``locale``: its tag, its language, a sibling (es-AR for es),
    the text for every locale, then the default locale's, then the first one given."""
    if isinstance(text, str):
        return text
    by_tag = {_norm(k): v for k, v in text.items()}
    for wanted in (locale, default_locale):
        found = _pick(by_tag, _norm(wanted))
        if found is not None:
            return found
        if wanted == locale and EVERY_LOCALE in by_tag:
            return by_tag[EVERY_LOCALE]
    return next(iter(by_tag.values()), "")


def _pick(by_tag: Mapping[str, str], tag: str) -> str | None:
    language = tag.split("-")[0]
    if tag in by_tag:
        return by_tag[tag]
    if language in by_tag:
        return by_tag[language]
    return next((v for k, v in by_tag.items() if k.split("-")[0] == language), None)


def _norm(tag: str) -> str:
    return tag.replace("_", "-").lower()
