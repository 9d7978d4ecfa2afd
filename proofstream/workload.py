"""A realistic simulated workload for ``proofstream demo`` and the benchmarks.

AgentSquad runs go planner → backend → tester → committer: they open an issue,
call MCP tools, lease a workspace and a browser, open, review and merge a PR, and
usually record browser-proof evidence for it. Research runs investigate and record
test reports. Some PRs are merged without browser proof on purpose, so the
analysts' "merged without proof" query and the proof-gap detector have work.

Pure: the same seed gives the same events (ids included).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.envelope import Actor, ActorKind, Producer, Subject, TeamType, Trace
from schemas.events import (
    AgentHandoff,
    BrowserLeased,
    BrowserReleased,
    Event,
    EvidenceKind,
    EvidenceRecorded,
    IssueOpened,
    Outcome,
    PullRequestMerged,
    PullRequestOpened,
    PullRequestReviewed,
    ReviewState,
    RunFinished,
    RunStarted,
    ToolInvoked,
    WorkspaceLeased,
    WorkspaceReleased,
)

__all__ = ["Workload", "simulate"]

_INSTALLATION = 4_242_001
_BOT = "fractalops-agents[bot]"
_TOOLS = (
    ("github", "create_branch", 180),
    ("github", "create_pull_request", 420),
    ("daytona", "exec", 2_400),
    ("playwright-grid", "screenshot", 1_900),
    ("searxng-grid", "search", 650),
    ("armory", "run_tests", 8_000),
)
_PROJECTS = (("fractalops", "fractalops/portal"), ("acme", "acme/storefront"))


@dataclass(frozen=True)
class Workload:
    """The events of a simulated day, plus what the demo should find in them."""

    events: tuple[Event, ...]
    merged_prs: tuple[str, ...]
    prs_without_browser_proof: tuple[str, ...]


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


@dataclass
class _Run:
    """Builds the events of one run, stamping the shared envelope onto each."""

    ids: random.Random
    rng: random.Random
    clock: _Clock
    events: list[Event]
    subject: Subject
    trace: Trace
    team: TeamType
    n: int

    def make(self, cls: type[Event], role: str, **fields: object) -> Event:
        event = cls(
            event_id=uuid.UUID(int=self.ids.getrandbits(128), version=4),
            occurred_at=self.clock.tick(self.rng, 5, 90),
            producer=Producer(
                service=f"{role}-agent",
                version="2.3.1",
                workload_id=f"spiffe://fractalops.io/ns/agents/sa/{role}",
            ),
            actor=Actor(
                kind=ActorKind.AGENT, id=f"{role}-{self.n % 3}", role=role, team_type=self.team
            ),
            subject=self.subject,
            trace=self.trace,
            **fields,
        )
        self.events.append(event)
        return event


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def tick(self, rng: random.Random, low_s: float, high_s: float) -> datetime:
        self.now += timedelta(seconds=rng.uniform(low_s, high_s))
        return self.now


def simulate(runs: int = 12, seed: int = 7, without_proof_every: int = 4) -> Workload:
    """``runs`` runs (two in three AgentSquad, one in three research). Every
    ``without_proof_every``-th AgentSquad PR is merged without browser proof."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not secrets
    ids = random.Random(seed + 1)  # noqa: S311
    clock = _Clock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    events: list[Event] = []
    merged: list[str] = []
    missing: list[str] = []
    squad_runs = 0
    for n in range(runs):
        project, repository = _PROJECTS[n % len(_PROJECTS)]
        research = n % 3 == 2
        run_id = f"run-{n:04d}"
        trace = Trace(traceparent=f"00-{_digest('t', n)[:32]}-{_digest('s', n)[:16]}-01")
        subject = Subject(project=project, repository=repository, run_id=run_id, generation=1)
        team = TeamType.RESEARCH if research else TeamType.AGENTSQUAD

        make = _Run(ids, rng, clock, events, subject, trace, team, n).make
        started = make(RunStarted, "planner", goal=f"deliver change {n} for {repository}")
        if research:
            roles = ("inquirer", "scout", "auditor", "scribe")
        else:
            roles = ("planner", "backend", "tester", "committer")
        for before, after in itertools.pairwise(roles):
            make(AgentHandoff, before, from_role=before, to_role=after, reason="stage done")
        make(
            WorkspaceLeased, "backend", workspace_id=f"ws-{n}", lease_id=f"wl-{n}", ttl_seconds=3600
        )
        for call in range(rng.randint(3, 7)):
            server, tool, typical = _TOOLS[rng.randrange(len(_TOOLS))]
            make(
                ToolInvoked,
                "backend",
                mcp_server=server,
                tool=tool,
                input_digest=_digest(run_id, call, "in"),
                output_digest=_digest(run_id, call, "out"),
                duration_ms=int(rng.lognormvariate(0, 0.5) * typical),
                outcome=Outcome.SUCCESS if rng.random() > 0.1 else Outcome.ERROR,
            )
        if research:
            make(
                EvidenceRecorded,
                "auditor",
                sha256=_digest(run_id, "report"),
                media_type="application/json",
                size_bytes=rng.randint(2_000, 90_000),
                kind=EvidenceKind.TEST_REPORT,
                proves=f"{repository}@{run_id}",
            )
        else:
            squad_runs += 1
            issue = f"{repository}#{100 + n}"
            pr = f"{repository}#{200 + n}"
            github = {"github_app_installation_id": _INSTALLATION, "delivery_identity": _BOT}
            make(IssueOpened, "planner", issue_ref=issue, title=f"Change {n}", **github)
            make(
                PullRequestOpened,
                "committer",
                pr_ref=pr,
                title=f"Fixes #{100 + n}: change {n}",
                head_sha=_digest(pr, "head")[:40],
                base_ref="main",
                **github,
            )
            make(BrowserLeased, "tester", browser_id=f"br-{n}", lease_id=f"bl-{n}", ttl_seconds=900)
            with_proof = squad_runs % without_proof_every != 0
            if with_proof:
                make(
                    EvidenceRecorded,
                    "tester",
                    sha256=_digest(pr, "browser-proof"),
                    media_type="image/png",
                    size_bytes=rng.randint(40_000, 400_000),
                    kind=EvidenceKind.BROWSER_PROOF,
                    proves=pr,
                )
            else:
                missing.append(pr)
            make(BrowserReleased, "tester", browser_id=f"br-{n}", lease_id=f"bl-{n}")
            make(
                PullRequestReviewed,
                "tester",
                pr_ref=pr,
                review_state=ReviewState.APPROVED,
                commit_sha=_digest(pr, "head")[:40],
                **github,
            )
            merged_at = clock.tick(rng, 30, 600)
            make(
                PullRequestMerged,
                "committer",
                pr_ref=pr,
                merge_sha=_digest(pr, "merge")[:40],
                merged_at=merged_at,
                **github,
            )
            merged.append(pr)
        make(WorkspaceReleased, "backend", workspace_id=f"ws-{n}", lease_id=f"wl-{n}")
        elapsed = int((clock.tick(rng, 5, 30) - started.occurred_at).total_seconds() * 1000)
        outcome = Outcome.SUCCESS if rng.random() > 0.15 else Outcome.FAILURE
        make(RunFinished, "planner", outcome=outcome, duration_ms=elapsed)
    return Workload(tuple(events), tuple(merged), tuple(missing))


def invalid_payloads() -> Iterator[bytes]:
    """Bytes a misbehaving client might put on the log: the DLQ must catch them."""
    yield b'{"event_type": "run.started"}'  # JSON, not Avro
    yield b"\xc3\x01" + b"\x00" * 8 + b"unknown fingerprint"
    yield b"\xc3\x01"  # truncated header
