"""An incident's ops texts as the options (``--title``, ``--message-locale``) or the API's
JSON gave them: parsed per locale, each refused with the option (and key) at fault."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from notifier.domain.incidents import IncidentError

_TAG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
MAX_TEXT = 1000  # characters of one ops text: a headline or an update, not an essay


class TextError(IncidentError):
    """An ops text refused (which option, and why): a usage error on the command line."""

    def __init__(self, option: str, message: str, key: str | None = None) -> None:
        super().__init__(f"{option}: {message}", option.split(" ")[0], key=key, reason=message)


@dataclass(frozen=True, slots=True)
class Texts:
    """One text in the default locale and others per locale, as the options gave them
    (``per_locale``) or as JSON did (``locales``: a ``=`` in a locale is no separator)."""

    default: str | None = None
    per_locale: Sequence[str] = ()  # "LOCALE=TEXT"
    option: str = "--message"
    locales: Mapping[str, str] = field(default_factory=dict)  # {LOCALE: TEXT}

    def parsed(self, default_locale: str) -> dict[str, str]:
        """Return {locale: text}; raises TextError naming the option at fault."""
        out: dict[str, str] = {}
        if self.default is not None:
            out[default_locale] = _text(self.option, self.default)
        for item in self.per_locale:
            locale, sep, text = item.partition("=")
            option = f"{self.option}-locale {item[:30]!r}"
            tag = locale.strip().replace("_", "-").lower()
            if not sep or not _TAG.fullmatch(tag):
                raise TextError(option, "use LOCALE=TEXT, e.g. en='Carrier strike'", locale)
            out[_canonical(tag)] = _text(option, text, locale)
        for locale, text in self.locales.items():
            option = f"{self.option}-locale {locale[:30]!r}"
            if not _TAG.fullmatch(locale.strip().replace("_", "-").lower()):
                raise TextError(option, "not a locale: use a tag such as en, es-AR, pt-BR", locale)
            out[_locale(locale)] = _text(option, text, locale)
        return out

    def where(self, locale: str, default_locale: str) -> tuple[str, str | None]:
        """Return the option (and the key within it) that gave the text of ``locale``."""
        given = next((k for k in self.locales if _locale(k) == locale), None)
        if given is None and locale == default_locale:
            return self.option, None
        return f"{self.option}-locale {locale}", given or locale  # a locale's text wins


def _locale(key: str) -> str:
    return _canonical(key.strip().replace("_", "-").lower())


def _canonical(tag: str) -> str:
    language, *rest = tag.split("-")
    return "-".join([language.lower(), *(r.upper() if len(r) == 2 else r for r in rest)])


def _text(option: str, text: str, key: str | None = None) -> str:
    found = " ".join(text.split())
    if not found:
        raise TextError(option, "empty text", key)
    if len(found) > MAX_TEXT:
        raise TextError(option, f"{len(found)} characters; at most {MAX_TEXT}", key)
    return found
