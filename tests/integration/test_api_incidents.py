"""The incidents API over HTTP on SQLite and PostgreSQL: the CLI's commands, checks and words.

The app runs on the rig's store and clock with the shipped templates (so an incident's
SMS is measured), and the rig's scan, planner and dispatcher tell the customers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from notifier.api.app import create_app
from notifier.api.deps import Services
from notifier.config import Settings
from notifier.engine.crisis.planner import plan_incidents
from notifier.engine.ingest.ledger_service import Ledger
from tests.integration.conftest import AUTH, TOKEN
from tests.integration.rig import Rig

OPEN: dict[str, Any] = {
    "title": "Paro de transportistas",
    "titles": {"en": "Carrier strike"},
    "match": {"kind": "delivery", "attributes.carrier": ["andreani"]},
    "message": "Un paro frena los envíos de Andreani.",
    "messages": {"pt-BR": "Uma greve atrasa as entregas."},
    "by": "ana",
}


class Woken:
    def __init__(self) -> None:
        self.scans = 0
        self.sends = 0


@pytest.fixture
def woken() -> Woken:
    return Woken()


@pytest.fixture
async def api(rig: Rig, woken: Woken) -> AsyncIterator[httpx.AsyncClient]:
    def scan() -> None:
        woken.scans += 1

    def send() -> None:
        woken.sends += 1

    ledger = Ledger(rig.store, rig.clock, on_change=scan)
    svc = Services(
        settings=Settings(api_token=SecretStr(TOKEN)), store=rig.store, clock=rig.clock,
        ledger=ledger, wake_dispatcher=send, renderer=rig.dispatcher.composer.renderer,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(svc))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://notifier.test", headers=AUTH
    ) as client:
        yield client


async def _segment(rig: Rig) -> None:
    await rig.customer("c-1")  # by SMS
    await rig.promise("c-1", "A-1", timedelta(hours=5), carrier="andreani")
    await rig.customer("c-2", last_used="email", phone=None)
    await rig.promise("c-2", "O-1", timedelta(hours=5), carrier="oca")  # outside


async def _open(api: httpx.AsyncClient, **extra: object) -> dict[str, Any]:
    r = await api.post("/v1/incidents", json={**OPEN, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _round(rig: Rig) -> None:
    await rig.scan()
    await plan_incidents(rig.store, rig.clock.now(), rig.rules.defaults.quiet_hours)
    await rig.dispatcher.dispatch_until_idle()


async def test_open_answers_201_with_the_view_and_its_location(
    api: httpx.AsyncClient, rig: Rig, woken: Woken
) -> None:
    await _segment(rig)
    r = await api.post("/v1/incidents", json=OPEN)
    assert r.status_code == 201, r.text
    view = r.json()
    assert r.headers["location"] == f"/v1/incidents/{view['id']}"
    assert view["status"] == "investigating" and view["severity"] == "major"
    assert view["titles"] == {"es": "Paro de transportistas", "en": "Carrier strike"}
    assert view["segment"] == {"kind": ["delivery"], "attributes.carrier": ["andreani"]}
    assert view["updates_on"] == ["email", "x"] and view["through_quiet_hours"] is False
    assert view["update"] == 0 and view["opened_by"] == "ana"
    [opened] = view["history"]
    assert opened["kind"] == "opened"
    assert opened["texts"]["pt-BR"] == "Uma greve atrasa as entregas."
    assert woken.scans == 1  # this process's scan plans the fan-out at once
    # The same dict as `incident show --json`, and `list` as `incident list --json`.
    shown = (await api.get(r.headers["location"])).json()
    assert shown == view
    listed = (await api.get("/v1/incidents")).json()
    assert [i["id"] for i in listed] == [view["id"]] and "history" not in listed[0]


async def test_an_incident_opened_over_the_api_is_planned_and_its_customer_told(
    api: httpx.AsyncClient, rig: Rig
) -> None:
    await _segment(rig)
    view = await _open(
        api, severity="critical", updates_on=["email", "sms"],
        match={"attributes.carrier": "andreani", "due_at": {"before": "now+1d"}},
    )  # fmt: skip
    assert view["through_quiet_hours"] is True  # critical, by default
    assert view["updates_on"] == ["email", "sms"]
    await _round(rig)
    sms = rig.twilio.forms()
    assert [f["To"] for f in sms] == ["+5491155550101"]
    assert "paro" in sms[0]["Body"].lower()
    assert rig.smtp.received == []  # c-2's promise is another carrier's
    shown = (await api.get(f"/v1/incidents/{view['id']}")).json()
    assert shown["counts"]["affected"] == 1 and shown["counts"]["told"] == 1
    assert shown["counts"]["by_channel"]["sms"]["told"] == 1


async def test_updates_are_numbered_latest_wins_then_pause_resume_and_resolve(
    api: httpx.AsyncClient, rig: Rig, woken: Woken
) -> None:
    await _segment(rig)
    iid = (await _open(api))["id"]
    base = f"/v1/incidents/{iid}"
    r = await api.post(f"{base}/updates", json={"message": "Ya sabemos la causa."})
    assert r.status_code == 201, r.text
    assert r.json()["step"] == 1 and r.json()["update"] == 1
    r = await api.post(
        f"{base}/updates",
        json={"status": "identified", "estimate": "now+1d", "messages": {"en": "Known cause."},
              "by": "bea"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["step"] == 2 and view["status"] == "identified" and view["estimate_at"]
    assert view["history"][-1]["by"] == "bea"
    r = await api.post(f"{base}/pause")
    assert r.status_code == 200 and r.json()["paused"] is True
    assert r.json()["history"][-1]["by"] == "api"  # no body: the API did it
    sends = woken.sends
    r = await api.post(f"{base}/resume", json={"by": "carla"})
    assert r.status_code == 200 and r.json()["paused"] is False
    assert woken.sends == sends + 1  # the held rows go at once
    r = await api.post(f"{base}/resolve", json={"message": "Se normalizaron los envíos."})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["status"] == "resolved" and view["update"] == 3 and view["resolved_at"]
    kinds = [(h["kind"], h["by"]) for h in view["history"]]
    assert kinds == [("opened", "ana"), ("update", "api"), ("update", "bea"),
                     ("paused", "api"), ("resumed", "carla"), ("resolved", "api")]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        pytest.param("resolve", None, "is resolved", id="resolve-twice"),
        pytest.param("updates", {"message": "x"}, "is resolved: nothing to update", id="update"),
    ],
)
async def test_a_resolved_incident_refuses_more_with_409(
    api: httpx.AsyncClient, rig: Rig, path: str, body: dict[str, str] | None, says: str
) -> None:
    iid = (await _open(api))["id"]
    assert (await api.post(f"/v1/incidents/{iid}/resolve")).status_code == 200
    r = await api.post(f"/v1/incidents/{iid}/{path}", json=body)
    assert r.status_code == 409, r.text
    assert says in r.json()["detail"]


async def test_state_conflicts_are_409_with_the_reason(api: httpx.AsyncClient, rig: Rig) -> None:
    iid = (await _open(api))["id"]
    base = f"/v1/incidents/{iid}"
    r = await api.post(f"{base}/confirm")
    assert r.status_code == 409 and r.json()["detail"] == f"incident {iid} needs no confirmation"
    r = await api.post(f"{base}/dismiss", json={"by": "ana"})
    assert r.status_code == 409 and "resolve it instead" in r.json()["detail"]
    r = await api.post(f"{base}/resume")
    assert r.status_code == 409 and r.json()["detail"] == f"incident {iid} is not paused"
    assert (await api.post(f"{base}/pause")).status_code == 200
    r = await api.post(f"{base}/pause")
    assert r.status_code == 409 and "paused already" in r.json()["detail"]
    history = (await api.get(base)).json()["history"]
    assert [h["kind"] for h in history] == ["opened", "paused"]  # nothing else written


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "", None, id="show"),
        pytest.param("POST", "/updates", {"message": "x"}, id="update"),
        pytest.param("POST", "/resolve", {}, id="resolve"),
        pytest.param("POST", "/confirm", None, id="confirm"),
        pytest.param("POST", "/dismiss", None, id="dismiss"),
        pytest.param("POST", "/pause", None, id="pause"),
        pytest.param("POST", "/resume", None, id="resume"),
    ],
)
async def test_an_unknown_incident_is_404(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    r = await api.request(method, f"/v1/incidents/999{path}", json=body)
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == "no incident 999"


async def test_a_token_is_required(api: httpx.AsyncClient) -> None:
    paths = [("GET", "/v1/incidents"), ("POST", "/v1/incidents"), ("GET", "/v1/incidents/1"),
             ("POST", "/v1/incidents/1/resolve")]  # fmt: skip
    for method, path in paths:
        r = await api.request(method, path, json=OPEN, headers={"Authorization": ""})
        assert r.status_code == 401, (method, path)
    assert (await api.get("/v1/incidents")).json() == []


SMS_TOO_LONG = "Perdón. " * 60


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        pytest.param({"title": ""}, "title", "empty text", id="empty-title"),
        pytest.param({"title": "   "}, "title", "empty text", id="blank-title"),
        pytest.param({"title": None}, "title", "valid string", id="null-title"),
        pytest.param({"title": "x" * 1001}, "title", "1001 characters; at most 1000",
                     id="long-title"),
        pytest.param({"titles": {"nope!": "x"}}, "titles.nope!", "not a locale", id="title-locale"),
        pytest.param({"messages": {"en=x": "y"}}, "messages.en=x", "not a locale",
                     id="message-locale-with-equals"),
        pytest.param({"messages": {"en": " "}}, "messages.en", "empty text", id="empty-message"),
        pytest.param({"match": {"carrier": "andreani"}}, "match.carrier", "unknown field",
                     id="match-field"),
        pytest.param({"match": {}}, "match", "at least one field", id="empty-match"),
        pytest.param({"match": {"kind": []}}, "match.kind", "an empty list", id="empty-values"),
        pytest.param({"match": {"status": "kept"}}, "match.status", "unsettled promises only",
                     id="match-status"),
        pytest.param({"match": {"due_at": {"before": "soon"}}}, "match.due_at", "invalid time",
                     id="match-due-at"),
        pytest.param({"severity": "huge"}, "severity", "'critical'", id="severity"),
        pytest.param({"estimate": "2020-01-01T00:00Z"}, "estimate", "has passed",
                     id="past-estimate"),
        pytest.param({"estimate": "tomorrow"}, "estimate", "invalid time", id="bad-estimate"),
        pytest.param({"updates_on": ["email", "fax"]}, "updates_on", "unknown channel 'fax'",
                     id="channel"),
        pytest.param({"message": SMS_TOO_LONG}, "message", "segments", id="sms-too-long"),
        pytest.param({"messages": {"pt-BR": SMS_TOO_LONG}}, "messages.pt-BR", "in pt-BR takes",
                     id="sms-too-long-in-a-locale"),
        pytest.param({"message": None, "messages": {"es": SMS_TOO_LONG}}, "messages.es",
                     "in es takes", id="sms-too-long-default-locale-by-key"),
        pytest.param({"messages": {"pt_br": SMS_TOO_LONG}}, "messages.pt_br", "in pt-BR takes",
                     id="sms-too-long-named-as-given"),
        pytest.param({"by": ""}, "by", "at least 1 character", id="empty-by"),
        pytest.param({"colour": "red"}, "colour", "Extra inputs", id="unknown-key"),
    ],
)  # fmt: skip
async def test_bad_input_on_open_is_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, object], field: str, says: str
) -> None:
    r = await api.post("/v1/incidents", json={**OPEN, **body})
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["field"] == field, problem
    assert says in problem["message"], problem
    assert "--" not in problem["message"]  # the API's words name no CLI option
    assert (await api.get("/v1/incidents")).json() == []  # nothing written


async def test_the_sms_count_is_in_the_message(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/incidents", json={**OPEN, "message": SMS_TOO_LONG})
    [problem] = r.json()["detail"]
    count = r"takes (\d+) segments \(NOTIFIER_MAX_SMS_SEGMENTS is 2\)"
    found = re.search(count, problem["message"])
    assert found and int(found.group(1)) > 2, problem


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        pytest.param({"status": "resolved"}, "status",
                     "use one of investigating, identified, monitoring", id="status"),
        pytest.param({"estimate": "2020-01-01T00:00Z"}, "estimate", "has passed", id="past"),
        pytest.param({}, "body", "nothing to update", id="nothing"),
        pytest.param({"message": SMS_TOO_LONG}, "message", "segments", id="sms-too-long"),
        pytest.param({"messages": {"x": "y"}}, "messages.x", "not a locale", id="locale"),
    ],
)  # fmt: skip
async def test_bad_input_on_update_is_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, object], field: str, says: str
) -> None:
    iid = (await _open(api))["id"]
    r = await api.post(f"/v1/incidents/{iid}/updates", json=body)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["field"] == field and says in problem["message"], problem
    assert (await api.get(f"/v1/incidents/{iid}")).json()["update"] == 0


async def test_a_too_long_resolution_is_422_and_the_incident_stays_open(
    api: httpx.AsyncClient,
) -> None:
    iid = (await _open(api))["id"]
    r = await api.post(f"/v1/incidents/{iid}/resolve", json={"message": SMS_TOO_LONG})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "message"
    assert (await api.get(f"/v1/incidents/{iid}")).json()["status"] == "investigating"
