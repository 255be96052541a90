"""The JSON shapes of incidents and their previews, the same for the CLI's ``--json`` and
(later) the API, and their text lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from notifier.domain.detection import Detection
from notifier.domain.incident_counts import STATES, Counts
from notifier.domain.incidents import HistoryEntry, Incident
from notifier.domain.preflight import Preview, Sample


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


def preview_view(p: Preview) -> dict[str, Any]:
    """Return `incident preview` (and `open --dry-run`) as JSON: nothing was opened."""
    t, new = p.tally, p.new
    return {
        "dry_run": True,
        "title": new.titles.get(new.default_locale) or next(iter(new.titles.values()), ""),
        "titles": dict(new.titles),
        "severity": new.severity.value,
        "through_quiet_hours": new.through_quiet_hours,
        "updates_on": list(new.updates_on),
        "estimate_at": _iso(new.estimate_at),
        "segment": dict(p.segment.spec),
        "segment_text": p.segment.describe(),
        "affected": t.affected.to_json(),
        "by_channel": {c: g.to_json() for c, g in t.by_channel.items()},
        "by_locale": {loc: g.to_json() for loc, g in sorted(t.by_locale.items())},
        "deferred": t.deferred,
        "skipped": {
            **t.skipped_total.to_json(),
            "by_reason": {c: g.to_json() for c, g in t.skipped.items()},
        },
        "samples": [_sample_json(s) for s in p.samples],
        "fanout": _fanout_json(p),
        "whatsapp": _whatsapp_json(p),
    }


def _sample_json(s: Sample) -> dict[str, Any]:
    return {"channel": s.channel, "locale": s.locale, "customer_id": s.customer_id,
            "customers": s.customers, "subject": s.subject, "text": s.text,
            "segments": s.segments, "error": s.error}  # fmt: skip


def _fanout_json(p: Preview) -> dict[str, Any]:
    by_channel = {
        load.channel: {
            "messages": load.messages,
            "cost": load.cost,
            "unit": "segments" if load.channel == "sms" else "messages",
            "per_second": load.rate.per_second,
            "per_day": load.rate.per_day,
            "seconds": load.duration.total_seconds(),
        }
        for load in p.loads
    }
    return {"seconds": p.duration.total_seconds(), "by_channel": by_channel}


def _whatsapp_json(p: Preview) -> dict[str, Any]:
    t = p.tally
    tiers = [{"customers_a_day": h.tier, "counted": h.customers, "held_back": h.held_back,
              "days": h.days} for h in p.tiers]  # fmt: skip
    return {"customers": t.by_channel["whatsapp"].customers, "outside_window": t.outside_window,
            "with_template": t.templated, "without_template": t.fell_back,
            "content_sids": p.content_sids, "tiers": tiers}  # fmt: skip


def preview_lines(view: dict[str, Any]) -> list[str]:
    """Return `incident preview` as text lines."""
    a, sk, wa, fan = view["affected"], view["skipped"], view["whatsapp"], view["fanout"]
    lines = [
        f"preview (nothing sent, no incident opened): {view['title'] or '(no title)'}",
        f"  segment {view['segment_text']}",
        f"  affected: {_n(a['customers'], 'customer')}, {_n(a['promises'], 'promise')}",
        "    by channel: " + (_groups(view["by_channel"]) or "-"),
        "    by locale: " + (_groups(view["by_locale"]) or "-"),
    ]
    if view["deferred"]:
        lines.append(f"    in their quiet hours now: {view['deferred']:,} (told when they end; "
                     "--through-quiet-hours sends at once)")  # fmt: skip
    reasons = ", ".join(f"{k} {g['customers']:,}" for k, g in sk["by_reason"].items()
                        if g["customers"])  # fmt: skip
    lines.append(f"  skipped: {_n(sk['customers'], 'customer')}, {_n(sk['promises'], 'promise')}"
                 + (f": {reasons}" if reasons else ""))  # fmt: skip
    lines.append(f"  fan-out at the rate limits: {span(fan['seconds'])} (channels in parallel)")
    for channel, load in fan["by_channel"].items():
        if load["messages"]:
            cost = f", {_n(load['cost'], 'segment')}" if channel == "sms" else ""
            quota = f", {load['per_day']:,} a day" if load["per_day"] else ""
            lines.append(f"    {channel}: {_n(load['messages'], 'message')}{cost} at "
                         f"{load['per_second']:g}/s{quota}: {span(load['seconds'])}")  # fmt: skip
    lines.append(f"  whatsapp: {_n(wa['customers'], 'customer')}; {wa['outside_window']:,} outside "
                 f"the 24 h window: {wa['with_template']:,} with a Content Template, "
                 f"{wa['without_template']:,} without (they fall back to the next channel; "
                 "NOTIFIER_WHATSAPP_CONTENT_SIDS crisis_opened.<locale>)")  # fmt: skip
    tiers = "; ".join(f"{t['customers_a_day']:,} a day holds back {t['held_back']:,}"
                      for t in wa["tiers"])  # fmt: skip
    lines.append(f"    messaging tier ({_n(wa['with_template'], 'customer')} by template): {tiers}")
    for s in view["samples"]:
        about = _n(s["customers"], "customer") + (
            f", {_n(s['segments'], 'segment')}" if s["segments"] else "")  # fmt: skip
        lines.append(f"  --- {s['channel']} {s['locale']} ({about}; for {s['customer_id']}) ---")
        if s["error"]:
            lines.append(f"    cannot render: {s['error']}")
            continue
        if s["subject"]:
            lines.append(f"    Subject: {s['subject']}")
        lines.extend(f"    {line}".rstrip() for line in (s["text"] or "").splitlines())
    return lines


def _groups(groups: dict[str, dict[str, int]]) -> str:
    return ", ".join(f"{name} {g['customers']:,} ({_n(g['promises'], 'promise')})"
                     for name, g in groups.items() if g["customers"])  # fmt: skip


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def span(seconds: float) -> str:
    """Return a duration for people: ``0.4 s``, ``2 min 5 s``, ``1 d 3 h``."""
    if 0 < seconds < 0.1:
        return "under 0.1 s"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{round(seconds)} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
