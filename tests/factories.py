"""Realistic events for tests: valid by construction, varied by argument."""

from __future__ import annotations

import hashlib

from schemas.envelope import Actor, ActorKind, Producer, Subject, TeamType
from schemas.events import RunStarted, ToolInvoked


def producer(service: str = "planner") -> Producer:
    return Producer(
        service=service, version="1.4.0", workload_id=f"spiffe://fractalops/ns/agents/sa/{service}"
    )


def agent(role: str = "planner", team: TeamType = TeamType.AGENTSQUAD) -> Actor:
    return Actor(kind=ActorKind.AGENT, id=f"agent-{role}", role=role, team_type=team)


def subject(run_id: str = "run-1", project: str = "fractalops") -> Subject:
    return Subject(project=project, repository="fractalops/proofstream", run_id=run_id)


def run_started(run_id: str = "run-1", goal: str = "fix issue #12") -> RunStarted:
    return RunStarted(producer=producer(), actor=agent(), subject=subject(run_id), goal=goal)


def tool_invoked(run_id: str = "run-1", n: int = 0, duration_ms: int = 120) -> ToolInvoked:
    return ToolInvoked(
        producer=producer("backend"),
        actor=agent("backend"),
        subject=subject(run_id),
        mcp_server="github",
        tool="create_pull_request",
        input_digest=hashlib.sha256(f"in-{run_id}-{n}".encode()).hexdigest(),
        output_digest=hashlib.sha256(f"out-{run_id}-{n}".encode()).hexdigest(),
        duration_ms=duration_ms,
        outcome="success",
    )
