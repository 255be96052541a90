"""The JSON shapes of incidents, the same for the CLI's ``--json`` and (later) the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from notifier.domain.detection import Detection
from notifier.domain.incident_counts import STATES, Counts
from notifier.domain.incidents import HistoryEntry, Incident


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def incident_view(
    incident: Incident,
    counts: Counts,
    history: Sequence[HistoryEntry] | None = None,
    detections: Sequence[Detection] = (),
) -> dict[str, Any]:
    """Return the incident with its counts (and its history and detections, when given)."""
    latest = incident.latest if incident.steps else None
    view: dict[str, Any] = {
        "id": incident.id,
        "status": incident.status.value,
        "title": next(iter(incident.titles.values()), ""),
        "titles": dict(incident.titles),
        "severity": incident.severity.value,
        "segment": dict(incident.segment.spec),
        "segment_text": incident.segment.describe(),
        "detected": incident.detected,
        "awaiting_confirmation": incident.awaiting_confirmation,
        "paused": incident.paused,
        "through_quiet_hours": incident.through_quiet_hours,
        "updates_on": list(incident.updates_on),
        "update": latest.number if latest else 0,
        "estimate_at": _iso(latest.estimate_at) if latest else None,
        "opened_at": _iso(incident.opened_at),
        "opened_by": incident.opened_by,
        "resolved_at": _iso(incident.resolved_at),
        "counts": counts.to_json(),
    }
    if detections:
        view["detections"] = [_detection_view(d) for d in detections]
    if history is not None:
        view["history"] = [
            {"at": _iso(h.at), "kind": h.kind, "by": h.by, "update": h.step, "status": h.status,
             "texts": dict(h.texts), "estimate_at": _iso(h.estimate_at)}
            for h in history
        ]  # fmt: skip
    return view


def _detection_view(d: Detection) -> dict[str, Any]:
    return {
        "rule": d.rule_id, "kind": d.kind, "group": dict(d.group), "at": _iso(d.at),
        "numbers": d.numbers.to_json(),
        "examples": [{"id": e.id, "ref": e.ref} for e in d.examples],
        "no_longer_holds_since": _iso(d.no_longer_holds_since),
    }  # fmt: skip


def _detection_lines(view: dict[str, Any]) -> list[str]:
    lines = []
    for d in view.get("detections", []):
        n = d["numbers"]
        group = " ".join(f"{k}={v}" for k, v in d["group"].items())
        verb = "proposed" if d["kind"] == "proposed" else "attached"
        lines.append(
            f"  detected: crisis rule {d['rule']} {verb} {d['at']} for {group}: "
            f"{n['broken']} broken of {n['due']} due ({n['share'] * 100:.0f}%), "
            f"baseline {n['baseline']:g} a window"
        )
        if d["examples"]:
            lines.append("    examples: " + ", ".join(e["ref"] for e in d["examples"]))
        if d["no_longer_holds_since"]:
            lines.append(f"    no longer holds since {d['no_longer_holds_since']}")
    if view["awaiting_confirmation"] and view["status"] != "dismissed":
        lines.append(f"  confirm: notifier incident confirm {view['id']}  "
                     f"(or dismiss: notifier incident dismiss {view['id']})")  # fmt: skip
    return lines


def incident_lines(view: dict[str, Any]) -> list[str]:
    """Return ``incident show`` as text lines."""
    c = view["counts"]
    state = view["status"] + (" (paused)" if view["paused"] else "")
    if view["awaiting_confirmation"]:
        state += " (waiting for confirmation)"
    lines = [
        f"incident {view['id']}: {view['title']}",
        f"  status {state}, severity {view['severity']}, update {view['update']}, "
        f"estimate {view['estimate_at'] or '-'}",
        f"  segment {view['segment_text']}",
        f"  opened {view['opened_at']} by {view['opened_by'] or '-'}"
        + (f", resolved {view['resolved_at']}" if view["resolved_at"] else ""),
        "  customers: "
        + ", ".join(f"{name} {c[name]}" for name in ("affected", *STATES, "resolved")),
    ]
    lines.extend(_detection_lines(view))
    for channel, per in sorted(c["by_channel"].items()):
        shown = ", ".join(f"{k} {v}" for k, v in per.items() if v)
        lines.append(f"    {channel}: {shown or '-'}")
    if view.get("history"):
        lines.append("  history:")
        for h in view["history"]:
            step = f" update {h['update']}" if h["update"] is not None else ""
            text = "; ".join(f"{k}: {v}" for k, v in h["texts"].items())
            estimate = f", estimate {h['estimate_at']}" if h["estimate_at"] else ""
            lines.append(f"    {h['at']} {h['kind']}{step} by {h['by'] or '-'} "
                         f"({h['status']}{estimate}){': ' + text if text else ''}")  # fmt: skip
    return lines
