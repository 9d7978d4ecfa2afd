"""One event row → its drawn node: lane, label, status colour, detail. Pure: no I/O.

An event row has the columns of :data:`proofstream.pages.sql.EVENT_COLUMNS`; its
``payload`` is the JSON object of the event's own fields, as the facts plane
stores it. Each event becomes a :class:`~proofstream.pages.model.ChainNode` in the
lane of its kind, labelled and coloured by its type (:func:`node_of`), for the PR
chain (:mod:`~proofstream.pages.chain`) and the run timeline
(:mod:`~proofstream.pages.timeline`) alike. Labels are cut to :data:`LABEL_MAX`
characters; nothing is escaped here (the renderer does it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from proofstream.pages.model import ChainNode, Mark

__all__ = [
    "LABEL_MAX",
    "lane_of",
    "node_of",
    "payload_of",
    "text",
]

LABEL_MAX = 48

_LANES = {
    "issue.opened": "issue",
    "run.started": "run",
    "run.finished": "run",
    "agent.handoff": "handoff",
    "tool.invoked": "tool",
    "workspace.leased": "workspace",
    "workspace.released": "workspace",
    "browser.leased": "browser",
    "browser.released": "browser",
    "pr.opened": "pull request",
    "pr.reviewed": "pull request",
    "pr.merged": "pull request",
    "evidence.recorded": "evidence",
    "proof.closed": "evidence",
}
_GOOD = frozenset({"success", "approved", "accepted"})


def lane_of(event_type: str) -> str:
    """The lane an event type is drawn in (``other`` for types without one)."""
    return _LANES.get(event_type, "other")


def _cut(label: str, limit: int = LABEL_MAX) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def payload_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's ``payload`` JSON as a dict (``{}`` when absent, malformed or not
    an object). Pure."""
    try:
        value = orjson.loads(row.get("payload") or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str:
    """``value`` as a string, ``""`` for ``None``. Pure."""
    return "" if value is None else str(value)


def _number(ref: str) -> str:
    return "#" + ref.rpartition("#")[2] if "#" in ref else ref


def _duration(ms: int) -> str:
    if ms < 1_000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def _label_and_status(  # noqa: PLR0911 - one answer per event type
    event_type: str, p: Mapping[str, Any], row: Mapping[str, Any], mark: Mark | None
) -> tuple[str, str]:
    """The drawn label and the status colour of one event."""
    if event_type == "issue.opened":
        return f"issue {_number(text(p.get('issue_ref')))} {text(p.get('title'))}", "ok"
    if event_type == "run.started":
        return f"{text(row.get('run_id'))} started", "ok"
    if event_type == "run.finished":
        outcome = text(p.get("outcome"))
        status = "ok" if outcome in _GOOD else "failed"
        return f"{text(row.get('run_id'))} {outcome}", status
    if event_type == "agent.handoff":
        return f"{text(p.get('from_role'))} → {text(p.get('to_role'))}", "ok"
    if event_type == "tool.invoked":
        outcome = text(p.get("outcome"))
        failed = outcome != "success"
        took = _duration(int(p.get("duration_ms") or 0))
        label = f"{text(p.get('tool'))} {took}" + (f" ✗ {outcome}" if failed else "")
        return label, "failed" if failed else "ok"
    if event_type in ("workspace.leased", "workspace.released"):
        verb = event_type.split(".")[1]
        return f"{text(p.get('workspace_id'))} {verb}", "ok"
    if event_type in ("browser.leased", "browser.released"):
        verb = event_type.split(".")[1]
        return f"{text(p.get('browser_id'))} {verb}", "ok"
    if event_type == "pr.opened":
        return f"PR {_number(text(p.get('pr_ref')))} opened", "ok"
    if event_type == "pr.reviewed":
        state = text(p.get("review_state"))
        return f"review: {state}", "ok" if state in _GOOD else "failed"
    if event_type == "pr.merged":
        return f"merged {text(p.get('merge_sha'))[:7]}", "ok"
    if event_type == "evidence.recorded":
        kind = text(p.get("kind"))
        if mark is None:
            return f"{kind} ?", "unverified"
        sign = "✓" if mark.ok else "✗"
        return f"{kind} {sign} {mark.state.value}", "verified" if mark.ok else "unverified"
    return event_type, "ok"


def node_of(row: Mapping[str, Any], marks: Mapping[str, Mark]) -> ChainNode:
    """The node of one event row; an evidence event is coloured by its mark in
    ``marks`` (by event id). Pure."""
    event_type = text(row.get("event_type"))
    event_id = text(row.get("event_id"))
    payload = payload_of(row)
    label, status = _label_and_status(event_type, payload, row, marks.get(event_id))
    actor = f"{text(row.get('actor_role'))} {text(row.get('actor_id'))}".strip()
    detail = [("event", event_type), ("event id", event_id), ("actor", actor)]
    if row.get("run_id"):
        detail.append(("run", text(row.get("run_id"))))
    detail += [(str(k), text(v)) for k, v in sorted(payload.items()) if v is not None]
    return ChainNode(
        id=event_id,
        lane=lane_of(event_type),
        label=_cut(label),
        at_ms=int(row.get("at_ms") or 0),
        event_type=event_type,
        run_id=row.get("run_id"),
        actor=actor,
        status=status,
        detail=tuple((k, _cut(v, 200)) for k, v in detail),
    )
