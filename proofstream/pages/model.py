"""What a proof page shows, as plain frozen data: no I/O, no HTML.

:mod:`proofstream.pages.chain`, :mod:`~proofstream.pages.timeline` and
:mod:`~proofstream.pages.overview` build these from query rows and proof checks;
:mod:`proofstream.pages.render` and the page modules turn them into HTML. Every
string here may come from an event (a producer wrote it): the renderer escapes
all of them.

Times are milliseconds since the epoch (UTC), as the facts queries return them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "LANES",
    "ChainEdge",
    "ChainNode",
    "CheckpointView",
    "CoveragePoint",
    "EvidenceItem",
    "InclusionView",
    "Mark",
    "MarkState",
    "Overview",
    "PlaneLag",
    "PrChain",
    "ProofGap",
    "RunTimeline",
    "Span",
    "ToolCall",
    "ToolLatency",
    "UnprovenMerge",
]

LANES = (
    "issue",
    "run",
    "handoff",
    "workspace",
    "tool",
    "browser",
    "pull request",
    "evidence",
    "other",
)
"""The rows of a chain drawing, top to bottom: where each kind of event sits."""


class MarkState(StrEnum):
    """An evidence artifact's standing against the current signed checkpoint."""

    VERIFIED = "verified"
    """Its leaf's inclusion proof verifies against the signed root (green)."""
    FAILED = "failed"
    """A signature, tile, entry or artifact does not verify (red)."""
    MISSING = "missing"
    """The log does not record it (red: nothing proves it)."""
    PENDING = "pending"
    """Sequenced, but after the current checkpoint: the next one will cover it."""


@dataclass(frozen=True, slots=True)
class CheckpointView:
    """The signed checkpoint proofs are checked against (its signature verified)."""

    origin: str
    size: int
    root_hex: str
    root_b64: str
    key: str
    """``name+key id`` of the one trusted verifier key."""
    note: str
    """The signed note as published (``checkpoint``)."""


@dataclass(frozen=True, slots=True)
class InclusionView:
    """One verified RFC 9162 inclusion proof: the leaf, its hash, its audit path
    (bottom-up, hex) and the entry bytes it hashes (canonical JSON)."""

    leaf_index: int
    leaf_hash: str
    audit_path: tuple[str, ...]
    entry: str


@dataclass(frozen=True, slots=True)
class Mark:
    """The green or red mark of one artifact, and why."""

    state: MarkState
    reason: str
    inclusion: tuple[InclusionView, ...] = ()
    artifact: str = "not_stored"
    """``verified`` (the stored bytes re-hashed), ``not_stored`` or ``tampered``."""

    @property
    def ok(self) -> bool:
        return self.state is MarkState.VERIFIED


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """An ``evidence.recorded`` event and its mark."""

    event_id: str
    sha256: str
    kind: str
    proves: str
    media_type: str
    size_bytes: int
    at_ms: int
    run_id: str | None
    mark: Mark


@dataclass(frozen=True, slots=True)
class ChainNode:
    """One event drawn in a chain: ``lane`` (one of :data:`LANES`) and time place it;
    ``status`` colours it (``ok``, ``failed``, ``verified``, ``unverified``, ``gap``)."""

    id: str
    lane: str
    label: str
    at_ms: int
    event_type: str
    run_id: str | None
    actor: str
    status: str
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ChainEdge:
    """A line between two nodes: ``next`` (the run's next step), ``closes`` (issue →
    PR), ``proves`` (verified evidence → merge), ``claims`` (evidence the log does not
    prove → merge), ``caused`` (``causation_id``), ``gap`` (merge → its open gap)."""

    source: str
    target: str
    kind: str


@dataclass(frozen=True, slots=True)
class ProofGap:
    """A merged pull request that no browser-proof evidence proves."""

    pr_ref: str
    merged_at_ms: int


@dataclass(frozen=True, slots=True)
class PrChain:
    """Everything the proof page of one pull request shows."""

    pr_ref: str
    project: str | None
    repository: str | None
    title: str | None
    issue_ref: str | None
    merged_at_ms: int | None
    runs: tuple[str, ...]
    nodes: tuple[ChainNode, ...]
    edges: tuple[ChainEdge, ...]
    evidence: tuple[EvidenceItem, ...]
    checkpoint: CheckpointView | None
    log_error: str | None
    """Why no artifact could be checked at all (no log, a forged checkpoint)."""
    gap: ProofGap | None
    truncated: bool = False
    """True when the run(s) had more events than a page draws."""

    @property
    def found(self) -> bool:
        return bool(self.nodes)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One MCP tool call in a run."""

    event_id: str
    at_ms: int
    server: str
    tool: str
    duration_ms: int
    outcome: str
    retries: int
    role: str


@dataclass(frozen=True, slots=True)
class Span:
    """A lease held over time (``end_ms`` None: not released yet)."""

    lane: str
    label: str
    start_ms: int
    end_ms: int | None


@dataclass(frozen=True, slots=True)
class RunTimeline:
    """Everything the page of one run shows."""

    run_id: str
    project: str | None
    repository: str | None
    team_type: str | None
    goal: str | None
    outcome: str | None
    started_ms: int | None
    finished_ms: int | None
    roles: tuple[str, ...]
    nodes: tuple[ChainNode, ...]
    edges: tuple[ChainEdge, ...]
    tool_calls: tuple[ToolCall, ...]
    spans: tuple[Span, ...]
    prs: tuple[str, ...]
    evidence: tuple[EvidenceItem, ...]
    checkpoint: CheckpointView | None
    log_error: str | None
    truncated: bool = False

    @property
    def found(self) -> bool:
        return bool(self.nodes)


@dataclass(frozen=True, slots=True)
class CoveragePoint:
    """Merges of one project in one time bucket, and how many have browser proof."""

    project: str
    bucket_ms: int
    merged: int
    with_browser_proof: int


@dataclass(frozen=True, slots=True)
class UnprovenMerge:
    """A merge without browser proof (a row of ``v_prs_without_browser_proof``)."""

    project: str
    repository: str
    pr_ref: str
    merged_at_ms: int


@dataclass(frozen=True, slots=True)
class ToolLatency:
    """Latency of one MCP server/tool over every call."""

    server: str
    tool: str
    calls: int
    p50_ms: float
    p95_ms: float
    failure_rate: float


@dataclass(frozen=True, slots=True)
class PlaneLag:
    """One plane's lag (records behind the log end; None when unknown) and health."""

    name: str
    lag: int | None
    health: str


@dataclass(frozen=True, slots=True)
class Overview:
    """The overview page: coverage over time, unproven merges, tool latency, lag."""

    generated_at_ms: int
    bucket: str
    coverage: tuple[CoveragePoint, ...]
    unproven: tuple[UnprovenMerge, ...]
    unproven_total: int
    tools: tuple[ToolLatency, ...]
    planes: tuple[PlaneLag, ...]
    status_note: str | None = None
    recent_prs: tuple[tuple[str, int, bool], ...] = field(default=())
    """``(pr ref, merged at, has browser proof)`` of the latest merges, for links."""
