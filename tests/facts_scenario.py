"""A small, fully known history of proof facts, as the runtime would see it.

Every event is a real model, encoded and decoded by the codec (``decode_record``,
the runtime's fast path), at consecutive offsets. The expected answers of the
analyst queries over it are spelled out in ``EXPECTED``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.codec import EventCodec
from schemas.envelope import Actor, ActorKind, Producer, Subject, TeamType, Trace
from schemas.events import (
    AgentHandoff,
    Event,
    EvidenceRecorded,
    IssueOpened,
    PullRequestMerged,
    PullRequestOpened,
    RunFinished,
    RunStarted,
    ToolInvoked,
)
from sinks.base import LoggedEvent, LogPosition, LogRecord

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
REPO = "org/app"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _env(
    run_id: str = "run-1",
    team: TeamType = TeamType.AGENTSQUAD,
    role: str = "planner",
    project: str = "alpha",
    at: timedelta = timedelta(0),
) -> dict[str, Any]:
    return {
        "occurred_at": T0 + at,
        "producer": Producer(
            service="planner", version="1.4.0", workload_id="spiffe://fractalops/ns/a/sa/planner"
        ),
        "actor": Actor(kind=ActorKind.AGENT, id=f"agent-{role}", role=role, team_type=team),
        "subject": Subject(project=project, repository=REPO, run_id=run_id),
        "trace": Trace(traceparent=TRACEPARENT),
    }


_GH = {"github_app_installation_id": 42, "delivery_identity": "fractalops[bot]"}


def events() -> list[Event]:
    """The history, in log order."""
    h = timedelta(hours=1)
    out: list[Event] = [
        RunStarted(**_env("run-1"), goal="fix issue #1", attributes={"k": "v"}),
        RunFinished(**_env("run-1", at=2 * h), outcome="success", duration_ms=7_200_000),
        RunStarted(**_env("run-2", TeamType.OUROBOROS), goal="refactor"),
        RunFinished(**_env("run-2", TeamType.OUROBOROS, at=h), outcome="failure", duration_ms=1),
        RunStarted(**_env("run-3", TeamType.RESEARCH), goal="explore"),
        # Issue 1 -> PR 10 ("Fixes #1"), merged 3 h after the issue, with browser proof.
        IssueOpened(**_env(), **_GH, issue_ref=f"{REPO}#1", title="Broken login"),
        PullRequestOpened(
            **_env(at=h),
            **_GH,
            pr_ref=f"{REPO}#10",
            title="Fixes #1: login",
            head_sha="a" * 40,
            base_ref="main",
        ),
        PullRequestMerged(
            **_env(at=3 * h), **_GH, pr_ref=f"{REPO}#10", merge_sha="b" * 40, merged_at=T0 + 3 * h
        ),
        EvidenceRecorded(
            **_env(at=3 * h),
            sha256=_sha("shot-10"),
            media_type="image/png",
            size_bytes=2048,
            kind="browser_proof",
            proves=f"{REPO}#10",
        ),
        # Issue 2 -> PR 11 (explicit attributes link), merged 5 h later, test report only.
        IssueOpened(**_env(), **_GH, issue_ref=f"{REPO}#2", title="Slow page"),
        PullRequestOpened(
            **_env(at=h),
            **_GH,
            pr_ref=f"{REPO}#11",
            title="Speed up the page",
            head_sha="c" * 40,
            base_ref="main",
            attributes={"issue_ref": f"{REPO}#2"},
        ),
        PullRequestMerged(
            **_env(at=5 * h), **_GH, pr_ref=f"{REPO}#11", merge_sha="d" * 40, merged_at=T0 + 5 * h
        ),
        EvidenceRecorded(
            **_env(at=5 * h),
            sha256=_sha("report-11"),
            media_type="application/json",
            size_bytes=512,
            kind="test_report",
            proves=f"{REPO}#11",
        ),
        # PR 12: merged, no issue, no evidence.
        PullRequestMerged(
            **_env(at=6 * h), **_GH, pr_ref=f"{REPO}#12", merge_sha="e" * 40, merged_at=T0 + 6 * h
        ),
        AgentHandoff(**_env(), from_role="planner", to_role="coder", reason="plan ready"),
        AgentHandoff(**_env("run-2"), from_role="planner", to_role="coder", reason="plan ready"),
        AgentHandoff(**_env(role="coder"), from_role="coder", to_role="tester", reason="done"),
    ]
    for n in range(1, 101):  # github/create_pull_request: 1..100 ms, p95 (exact) = 96
        out.append(
            ToolInvoked(
                **_env(role="coder"),
                mcp_server="github",
                tool="create_pull_request",
                input_digest=_sha(f"in-{n}"),
                output_digest=_sha(f"out-{n}"),
                duration_ms=n,
                outcome="success",
            )
        )
    for n in range(3):
        out.append(
            ToolInvoked(
                **_env(role="coder"),
                mcp_server="fs",
                tool="read",
                input_digest=_sha(f"fs-{n}"),
                duration_ms=5,
                outcome="success",
            )
        )
    return out


def logged(codec: EventCodec, topic: str = "events", partition: int = 0) -> list[LoggedEvent]:
    """The history as the runtime hands it to a sink: codec round trip, log positions."""
    batch = []
    for offset, event in enumerate(events()):
        record = codec.decode_record(codec.encode(event))
        batch.append(
            LoggedEvent(
                LogPosition(topic, partition, offset),
                record["event_type"],
                record["event_id"],
                record,
            )
        )
    return batch


def records(codec: EventCodec, topic: str = "events", partition: int = 0) -> list[LogRecord]:
    """The history as it sits on the log: encoded records at consecutive offsets."""
    return [
        LogRecord(LogPosition(topic, partition, offset), None, codec.encode(event))
        for offset, event in enumerate(events())
    ]


EXPECTED = {
    "median_lead_time_s": 4 * 3600,  # (3 h + 5 h) / 2
    "prs_without_browser_proof": {f"{REPO}#11", f"{REPO}#12"},
    "github_p95_ms": 96,
}
