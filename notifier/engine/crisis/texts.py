"""An incident's ops texts as the options (``--title``, ``--message-locale``) or the API's
JSON gave them: parsed per locale, each refused with the option (and key) at fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from notifier.domain.incident_texts import NOT_A_LOCALE, clean_text, locale_tag
from notifier.domain.incidents import IncidentError


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
            tag = locale_tag(locale)
            if not sep or tag is None:
                raise TextError(option, "use LOCALE=TEXT, e.g. en='Carrier strike'", locale)
            out[tag] = _text(option, text, locale)
        for locale, text in self.locales.items():
            option = f"{self.option}-locale {locale[:30]!r}"
            tag = locale_tag(locale)
            if tag is None:
                raise TextError(option, NOT_A_LOCALE, locale)
            out[tag] = _text(option, text, locale)
        return out

    def where(self, locale: str, default_locale: str) -> tuple[str, str | None]:
        """Return the option (and the key within it) that gave the text of ``locale``."""
        given = next((k for k in self.locales if locale_tag(k) == locale), None)
        if given is None and locale == default_locale:
            return self.option, None
        return f"{self.option}-locale {locale}", given or locale  # a locale's text wins


def _text(option: str, text: str, key: str | None = None) -> str:
    try:
        return clean_text(text)
    except ValueError as exc:
        raise TextError(option, str(exc), key) from None
