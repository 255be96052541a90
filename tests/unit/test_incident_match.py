"""The API's JSON segment gives the spec `--match` gives; its refusals name the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.domain.incident_match import match_spec
from notifier.domain.incidents import IncidentError, parse_match, segment_of
from notifier.domain.models import JSONValue

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("items", "json"),
    [
        pytest.param(["kind=delivery"], {"kind": "delivery"}, id="one-value"),
        pytest.param(["kind=delivery"], {"kind": ["delivery"]}, id="a-list-of-one"),
        pytest.param(["attributes.region=AMBA,Córdoba"],
                     {"attributes.region": ["AMBA", "Córdoba", "AMBA"]}, id="one-of"),
        pytest.param(["attributes.amount=3"], {"attributes.amount": 3}, id="number"),
        pytest.param(["attributes.express=true"], {"attributes.express": True}, id="boolean"),
        pytest.param(["due_at<now+1d", "due_at>2026-11-24T00:00-03:00"],
                     {"due_at": {"before": "now+1d", "after": "2026-11-24T00:00-03:00"}},
                     id="due-at-bounds"),
        pytest.param(["due_at<now+1d"], {"due_at": "<now+1d"}, id="due-at-cli-form"),
        pytest.param(["due_at=after:now+2h"], {"due_at": ["after:now+2h"]}, id="due-at-named"),
        pytest.param(["customer.locale=pt-BR", "status=broken"],
                     {"customer.locale": "pt-BR", "status": "broken"}, id="customer-status"),
    ],
)  # fmt: skip
def test_the_json_form_builds_the_spec_the_cli_builds(
    items: list[str], json: dict[str, JSONValue]
) -> None:
    assert match_spec(json, NOW) == parse_match(items, NOW)


def test_a_comma_inside_a_list_element_is_part_of_the_value() -> None:
    spec = match_spec({"attributes.region": ["AMBA, zona sur", "Córdoba"]}, NOW)
    assert spec == {"attributes.region": ["AMBA, zona sur", "Córdoba"]}
    assert parse_match(["attributes.region=AMBA, zona sur"], NOW) == {
        "attributes.region": ["AMBA", "zona sur"]
    }  # on the command line the comma separates


@pytest.mark.parametrize(
    ("json", "key", "says"),
    [
        pytest.param({"carrier": "andreani"}, "carrier", "unknown field 'carrier'", id="field"),
        pytest.param({"kind": []}, "kind", "an empty list", id="empty-list"),
        pytest.param({"kind": " "}, "kind", "an empty value", id="empty-value"),
        pytest.param({"kind": None}, "kind", "a string, a number or a boolean", id="null"),
        pytest.param({"kind": [{"a": 1}]}, "kind", "a string, a number", id="nested"),
        pytest.param({"due_at": {"until": "now+1d"}}, "due_at", '{"before": TIME}', id="side"),
        pytest.param({"due_at": "now+1d"}, "due_at", '{"before": TIME}', id="no-side"),
        pytest.param({"due_at": {"before": "tomorrow"}}, "due_at", "invalid time", id="time"),
        pytest.param({"due_at": 3}, "due_at", '{"before": TIME}', id="number"),
    ],
)
def test_a_bad_json_segment_names_its_field(
    json: dict[str, JSONValue], key: str, says: str
) -> None:
    with pytest.raises(IncidentError) as caught:
        match_spec(json, NOW)
    assert caught.value.option == "--match" and caught.value.key == key
    assert says in caught.value.reason and "--match" not in caught.value.reason


def test_a_status_other_than_unsettled_names_status() -> None:
    with pytest.raises(IncidentError) as caught:
        segment_of(match_spec({"status": "kept"}, NOW))
    assert caught.value.key == "status" and "unsettled promises only" in caught.value.reason
    assert str(caught.value).startswith("--match status=kept:")  # the CLI's words


def test_the_cli_errors_keep_their_words_and_name_the_field() -> None:
    with pytest.raises(IncidentError) as caught:
        parse_match(["carrier=andreani"], NOW)
    assert str(caught.value).startswith("--match 'carrier=andreani': unknown field 'carrier'")
    assert caught.value.key == "carrier"
