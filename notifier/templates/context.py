"""The one documented context every message is rendered with (docs/messages.md lists it)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from notifier.config import MessageSettings
from notifier.domain.ingest import TimelineEntry as TimelineEntry
from notifier.domain.local_text import LocalText, text_for
from notifier.domain.models import Customer, JSONValue, Promise
from notifier.domain.names import given_names


@dataclass(frozen=True, slots=True)
class Company:
    """Who is writing: shown in every message. ``support_hours`` may hold one text per
    locale; the renderer gives each message the one of the locale it renders."""

    name: str
    help_url: str
    support_hours: str | LocalText

    def as_context(self) -> dict[str, object]:
        """The ``company`` variable, its per-locale texts still whole (``for_locale`` picks)."""
        return {"name": self.name, "help_url": self.help_url, "support_hours": self.support_hours}

    @classmethod
    def from_settings(cls, settings: MessageSettings) -> Company:
        """Return the company named by NOTIFIER_COMPANY_NAME, _HELP_URL and _SUPPORT_HOURS."""
        return cls(
            name=settings.company_name,
            help_url=settings.company_help_url,
            support_hours=settings.company_support_hours,
        )


def build_context(
    customer: Customer | None,
    promise: Promise | None,
    *,
    others: Sequence[Promise] = (),
    company: Company,
    now: datetime,
    currency: str = "USD",
    timeline: Sequence[TimelineEntry] = (),
    ops: Mapping[str, object] | None = None,
    incident: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Return the context of a message: plain dicts and lists, so templates read ``a.b``.

    ``customer`` is None in a message to ops about no one customer; ``ops`` holds what
    an ops message reads (see ``ops_context``), empty in a customer's. ``link`` is
    ``link_for(promise)``: what a real send and ``messages preview`` both carry.
    ``incident`` is what a crisis message reads (see ``incident_context``), None in others.
    """
    return {
        "customer": customer_context(customer) if customer is not None else None,
        "promise": promise_context(promise) if promise is not None else None,
        "others": [promise_context(p) for p in others],
        "company": company.as_context(),
        "link": link_for(promise),
        "now": now,
        "currency": _currency(promise, currency),
        "timeline": _timeline(timeline),
        "ops": dict(ops or {}),
        "incident": dict(incident) if incident is not None else None,
    }


def link_for(promise: Promise | None) -> str | None:
    """The customer's page for ``promise``: its ``tracking_url`` attribute when it is a web
    address, else None (templates then print ``company.help_url``)."""
    url = promise.attributes.get("tracking_url") if promise is not None else None
    if isinstance(url, str) and url.startswith(("https://", "http://")) and " " not in url:
        return url
    return None


def for_locale(company: object, locale: str, default_locale: str) -> object:
    """The ``company`` variable with each per-locale text as the one ``locale`` reads."""
    if not isinstance(company, Mapping):
        return company
    return {
        k: text_for(v, locale, default_locale) if isinstance(v, Mapping) else v
        for k, v in company.items()
    }


def incident_for_locale(incident: object, locale: str) -> object:
    """The ``incident`` variable as ``locale`` reads it: ``title`` and ``message`` are the
    texts written in that language (its tag, else its language), or None.

    Never another language's text: a customer whose language has none reads the
    template's own wording instead.
    """
    if not isinstance(incident, Mapping):
        return incident
    titles, messages = incident.get("titles"), incident.get("messages")
    return Variables(
        {
            **incident,
            "title": own_language(titles, locale) if isinstance(titles, Mapping) else None,
            "message": own_language(messages, locale) if isinstance(messages, Mapping) else None,
        }
    )


class Variables(Mapping[str, object]):
    """A read-only mapping whose keys templates read as attributes, ``update`` included
    (on a dict, ``incident.update`` would be the dict's method)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, object]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> object:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def own_language(texts: Mapping[str, object], locale: str) -> str | None:
    """Return the text of ``locale``'s tag, else of its language (es for es-AR, es-AR for
    es), else None; an empty text counts as none."""
    tag = locale.replace("_", "-").lower()
    language = tag.split("-")[0]
    by_tag = {str(k).replace("_", "-").lower(): v for k, v in texts.items()}
    for key in (tag, language):
        found = by_tag.get(key)
        if isinstance(found, str) and found.strip():
            return found
    for key, found in sorted(by_tag.items()):
        if key.split("-")[0] == language and isinstance(found, str) and found.strip():
            return found
    return None


def _timeline(entries: Sequence[TimelineEntry]) -> list[dict[str, object]]:
    return [{"at": e.at, "kind": e.type, "summary": e.summary} for e in entries]


# The instants an ops notice's values carry as ISO 8601 text: templates get datetimes.
_INSTANTS = frozenset({"at", "until"})


def ops_context(
    data: Mapping[str, JSONValue], timelines: Mapping[str, Sequence[TimelineEntry]]
) -> dict[str, object]:
    """The ``ops`` variable: an ops notice's values, its instants as datetimes, and each
    customer it names (``customers``: ``id``, ``name``) with ``timeline``, newest first."""
    found: dict[str, object] = {
        k: datetime.fromisoformat(v) if k in _INSTANTS and isinstance(v, str) else v
        for k, v in data.items()
    }
    customers = data.get("customers")
    if isinstance(customers, list):
        found["customers"] = [
            {**c, "timeline": _timeline(timelines.get(str(c.get("id")), ()))}
            for c in customers
            if isinstance(c, dict)
        ]
    return found


def customer_context(customer: Customer) -> dict[str, object]:
    """The ``customer`` variable: name ('' when unknown), given names, id, locale, timezone."""
    name = (customer.name or "").strip()
    return {
        "id": str(customer.id),
        "name": name,
        "first_name": given_names(name),
        "locale": customer.locale,
        "timezone": customer.timezone,
    }


def promise_context(promise: Promise) -> dict[str, object]:
    """One promise as templates see it; ``window_start`` is None unless it is a window."""
    attributes: Mapping[str, JSONValue] = promise.attributes
    reference = attributes.get("order_id") or attributes.get("reference") or promise.external_ref
    return {
        "id": int(promise.id),
        "kind": promise.kind,
        "status": str(promise.status),
        "reference": str(reference),
        "due_at": promise.due_at,
        "window_start": promise.window_start,
        "window_end": promise.due_at if promise.window_start is not None else None,
        "estimate_at": promise.estimate_at,
        "times_broken": promise.times_broken,
        "attributes": dict(attributes),
    }


def _currency(promise: Promise | None, default: str) -> str:
    # A refund knows its own currency better than the company-wide default does.
    code = promise.attributes.get("currency") if promise is not None else None
    return code if isinstance(code, str) and code else default
