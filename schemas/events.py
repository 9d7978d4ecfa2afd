"""One pydantic model per event type: what service authors construct and emit.

Every model mirrors ``schemas/avro/vN/<Name>.avsc`` of the newest version field
for field (a test checks names, types, optionality and defaults). Construct with
keyword arguments; ``event_id`` defaults to a fresh UUID4 and ``occurred_at`` to
now (UTC). Construction raises :class:`~schemas.errors.InvalidEventError` naming
the field when a type, an enum value or a seed rule (``schemas.rules``) fails::

    RunStarted(
        producer=Producer(service="planner", version="1.4.0",
                          workload_id="spiffe://fractalops/ns/agents/sa/planner"),
        actor=Actor(kind=ActorKind.AGENT, id="agent-7", role="planner",
                    team_type=TeamType.AGENTSQUAD),
        subject=Subject(project="fractalops", repository="fractalops/proofstream",
                        run_id="run-42"),
        goal="open a PR fixing issue #12",
    )
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, ClassVar

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from schemas import rules
from schemas.base import FrozenModel
from schemas.envelope import (
    Actor,
    ActorKind,
    Attributes,
    Digest,
    Identity,
    Name,
    Producer,
    Subject,
    Text,
    Trace,
)
from schemas.errors import InvalidEventError

__all__ = [
    "EVENT_TYPES",
    "AgentHandoff",
    "BrowserLeased",
    "BrowserReleased",
    "Decision",
    "Event",
    "EvidenceKind",
    "EvidenceRecorded",
    "IssueOpened",
    "KnowledgeAssetUpdated",
    "LineageDeclared",
    "LineageRef",
    "LineageRefKind",
    "Outcome",
    "ProofClosed",
    "ProofGapClosed",
    "ProofGapDetected",
    "ProposalDecided",
    "ProposalSubmitted",
    "PullRequestMerged",
    "PullRequestOpened",
    "PullRequestReviewed",
    "ReviewState",
    "RunFinished",
    "RunStarted",
    "ToolInvoked",
    "WorkspaceLeased",
    "WorkspaceReleased",
]

DurationMs = Annotated[int, Field(ge=0, le=2**63 - 1)]
Seconds = Annotated[int, Field(ge=0, le=2**31 - 1)]
Digests = Annotated[list[Digest], AfterValidator(rules.check_list)]


def _now() -> datetime:
    return datetime.now(UTC)


class Outcome(StrEnum):
    """How a run or a tool call ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


class ReviewState(StrEnum):
    """The state a pull-request review left."""

    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    COMMENTED = "commented"


class Decision(StrEnum):
    """The decision taken on a proposal."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DEFERRED = "deferred"


class EvidenceKind(StrEnum):
    """What kind of artifact a piece of evidence is."""

    BROWSER_PROOF = "browser_proof"
    TEST_REPORT = "test_report"
    SCREENSHOT = "screenshot"
    LOG = "log"
    TRACE = "trace"
    OTHER = "other"


class LineageRefKind(StrEnum):
    """What a lineage ref points at."""

    DATASET = "dataset"
    FEATURE = "feature"
    API = "api"
    ROUTE = "route"


class LineageRef(FrozenModel):
    """A typed lineage ref: what kind of thing, and its name or URN."""

    kind: LineageRefKind = Field(description="dataset, feature, api or route.")
    name: Identity = Field(description="Name or URN of the referenced thing.")


LineageRefs = Annotated[list[LineageRef], AfterValidator(rules.check_list)]


class Event(FrozenModel):
    """The envelope shared by every event type; never instantiated itself.

    ``event_type`` is a class constant (``run.started``); it is written to the
    Avro ``event_type`` field and selects the schema on the wire.
    """

    event_type: ClassVar[str] = ""

    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="Unique id of this event; the idempotency key of every projection.",
    )
    occurred_at: AwareDatetime = Field(
        default_factory=_now, description="When the action happened (UTC, microseconds)."
    )
    producer: Producer = Field(description="The emitting service and its workload identity.")
    actor: Actor = Field(description="Who performed the action.")
    subject: Subject = Field(description="Project, repository and run the action is about.")
    causation_id: uuid.UUID | None = Field(
        default=None, description="event_id of the event that caused this one."
    )
    correlation_id: uuid.UUID | None = Field(
        default=None, description="event_id of the first event of the conversation."
    )
    trace: Trace | None = Field(default=None, description="W3C trace context of the action.")
    attributes: Attributes = Field(
        default_factory=dict, description="Bounded free-form string attributes."
    )


class RunStarted(Event):
    """An agent run started."""

    event_type = "run.started"

    goal: Text = Field(description="What the run is meant to achieve.")
    parent_run_id: Identity | None = Field(
        default=None, description="Run that spawned this one, if any."
    )


class RunFinished(Event):
    """An agent run finished."""

    event_type = "run.finished"

    outcome: Outcome = Field(description="How the run ended.")
    duration_ms: DurationMs = Field(description="Wall-clock duration of the run in milliseconds.")
    summary: Text | None = Field(default=None, description="Short summary of the result.")


class AgentHandoff(Event):
    """Work passed from one agent role to another."""

    event_type = "agent.handoff"

    from_role: Identity = Field(description="Role handing the work over.")
    to_role: Identity = Field(description="Role receiving the work.")
    reason: Text = Field(description="Why the work was handed over.")


class ToolInvoked(Event):
    """An agent called a tool on an MCP server."""

    event_type = "tool.invoked"

    mcp_server: Identity = Field(description="MCP server that served the call.")
    tool: Identity = Field(description="Tool name on that server.")
    input_digest: Digest = Field(description="SHA-256 (hex) of the canonical tool input.")
    output_digest: Digest | None = Field(
        default=None, description="SHA-256 (hex) of the tool output; null when there was none."
    )
    duration_ms: DurationMs = Field(description="Duration of the call in milliseconds.")
    outcome: Outcome = Field(description="How the call ended.")
    retries: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Retries before this outcome (added in v2)."
    )


class WorkspaceLeased(Event):
    """A workspace was leased to a run."""

    event_type = "workspace.leased"

    workspace_id: Identity = Field(description="Id of the leased workspace.")
    lease_id: Identity = Field(description="Id of the lease.")
    ttl_seconds: Seconds = Field(description="Lease duration in seconds.")


class WorkspaceReleased(Event):
    """A workspace lease ended."""

    event_type = "workspace.released"

    workspace_id: Identity = Field(description="Id of the released workspace.")
    lease_id: Identity = Field(description="Id of the lease that ended.")
    reason: Text | None = Field(default=None, description="Why the lease ended early, if it did.")


class BrowserLeased(Event):
    """A browser session was leased to a run."""

    event_type = "browser.leased"

    browser_id: Identity = Field(description="Id of the leased browser session.")
    lease_id: Identity = Field(description="Id of the lease.")
    ttl_seconds: Seconds = Field(description="Lease duration in seconds.")


class BrowserReleased(Event):
    """A browser session lease ended."""

    event_type = "browser.released"

    browser_id: Identity = Field(description="Id of the released browser session.")
    lease_id: Identity = Field(description="Id of the lease that ended.")
    reason: Text | None = Field(default=None, description="Why the lease ended early, if it did.")


class _GitHubWrite(Event):
    """An event recording a write to GitHub.

    Seed rule: an agent writes through the GitHub App, never with a human's account
    or PAT, so ``github_app_installation_id`` is required and ``delivery_identity``
    must be the App's ``<slug>[bot]`` login when ``actor.kind`` is ``agent``.
    """

    github_app_installation_id: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="GitHub App installation that performed the write; required for agents.",
    )
    delivery_identity: Identity = Field(
        description="GitHub login that performed the write ('<app-slug>[bot]' for the App)."
    )
    webhook_delivery_id: Identity | None = Field(
        default=None, description="X-GitHub-Delivery id of the webhook that reported the write."
    )

    @model_validator(mode="after")
    def _agents_write_through_the_app(self) -> _GitHubWrite:
        if self.actor.kind is ActorKind.AGENT:
            if self.github_app_installation_id is None:
                raise InvalidEventError(
                    "github_app_installation_id",
                    "an agent writes to GitHub through the GitHub App: installation id required",
                )
            try:
                rules.check_bot_login(self.delivery_identity)
            except ValueError as exc:
                raise InvalidEventError("delivery_identity", str(exc)) from exc
        return self


class IssueOpened(_GitHubWrite):
    """An issue was opened."""

    event_type = "issue.opened"

    issue_ref: Identity = Field(description="Issue ref as 'owner/name#number'.")
    title: Text = Field(description="Issue title.")


class PullRequestOpened(_GitHubWrite):
    """A pull request was opened."""

    event_type = "pr.opened"

    pr_ref: Identity = Field(description="Pull request ref as 'owner/name#number'.")
    title: Text = Field(description="Pull request title.")
    head_sha: Identity = Field(description="Commit sha of the head branch.")
    base_ref: Identity = Field(description="Branch the pull request targets.")


class PullRequestReviewed(_GitHubWrite):
    """A pull request received a review."""

    event_type = "pr.reviewed"

    pr_ref: Identity = Field(description="Pull request ref as 'owner/name#number'.")
    review_state: ReviewState = Field(description="State the review left.")
    commit_sha: Identity = Field(description="Commit the review applies to.")


class PullRequestMerged(_GitHubWrite):
    """A pull request was merged; the proof-closure clock starts here."""

    event_type = "pr.merged"

    pr_ref: Identity = Field(description="Pull request ref as 'owner/name#number'.")
    merge_sha: Identity = Field(description="Sha of the merge commit.")
    merged_at: AwareDatetime = Field(description="When GitHub merged the pull request.")


class ProposalSubmitted(Event):
    """A proposal (plan, change, ontology edit) was submitted for a decision."""

    event_type = "proposal.submitted"

    proposal_id: Identity = Field(description="Id of the proposal.")
    title: Text = Field(description="Title of the proposal.")
    body_digest: Digest = Field(description="SHA-256 (hex) of the proposal body.")


class ProposalDecided(Event):
    """A decision was taken on a proposal."""

    event_type = "proposal.decided"

    proposal_id: Identity = Field(description="Id of the proposal.")
    decision: Decision = Field(description="accepted, rejected or deferred.")
    reason: Text | None = Field(default=None, description="Why, in a sentence.")


class EvidenceRecorded(Event):
    """An evidence artifact was stored; the event carries its digest, not its bytes."""

    event_type = "evidence.recorded"

    sha256: Digest = Field(description="SHA-256 (hex) of the artifact; its address in Chronicle.")
    media_type: Name = Field(description="IANA media type of the artifact.")
    size_bytes: int = Field(ge=0, le=2**63 - 1, description="Size of the artifact in bytes.")
    kind: EvidenceKind = Field(description="What kind of artifact it is.")
    proves: Identity = Field(
        description="What it proves, as a ref (e.g. a PR ref 'owner/name#12')."
    )
    uri: Identity | None = Field(default=None, description="Where the artifact can be fetched.")


class ProofClosed(Event):
    """The evidence for a claim (e.g. a merged PR) is complete."""

    event_type = "proof.closed"

    proves: Identity = Field(description="The ref whose proof is closed (e.g. a PR ref).")
    evidence: Digests = Field(description="SHA-256 (hex) of every evidence artifact relied on.")


class KnowledgeAssetUpdated(Event):
    """A knowledge asset (wiki page, doc, ontology term) changed or went stale."""

    event_type = "knowledge.asset.updated"

    asset_ref: Identity = Field(description="Ref of the knowledge asset.")
    digest: Digest = Field(description="SHA-256 (hex) of the asset's new content.")
    stale: bool = Field(default=False, description="True when the asset is known to be stale.")


class LineageDeclared(Event):
    """A run declared what it read and wrote (datasets, features, APIs, routes)."""

    event_type = "lineage.declared"

    inputs: LineageRefs = Field(default_factory=list, description="What the run read.")
    outputs: LineageRefs = Field(default_factory=list, description="What the run wrote.")


class ProofGapDetected(Event):
    """A merged pull request has no closing evidence within the window."""

    event_type = "proof.gap.detected"

    pr_ref: Identity = Field(description="Pull request ref as 'owner/name#number'.")
    repository: Identity = Field(description="Repository as 'owner/name'.")
    merged_at: AwareDatetime = Field(description="When the pull request was merged.")
    window_seconds: Seconds = Field(description="How long after the merge evidence was awaited.")


class ProofGapClosed(Event):
    """Evidence arrived that closes an open proof gap."""

    event_type = "proof.gap.closed"

    pr_ref: Identity = Field(description="Pull request ref as 'owner/name#number'.")
    repository: Identity = Field(description="Repository as 'owner/name'.")
    merged_at: AwareDatetime = Field(description="When the pull request was merged.")
    window_seconds: Seconds = Field(description="The window the gap was detected with.")
    evidence_sha256: Digest = Field(description="SHA-256 (hex) of the evidence that closed it.")


EVENT_TYPES: MappingProxyType[str, type[Event]] = MappingProxyType(
    {
        cls.event_type: cls
        for cls in (
            RunStarted,
            RunFinished,
            AgentHandoff,
            ToolInvoked,
            WorkspaceLeased,
            WorkspaceReleased,
            BrowserLeased,
            BrowserReleased,
            IssueOpened,
            PullRequestOpened,
            PullRequestReviewed,
            PullRequestMerged,
            ProposalSubmitted,
            ProposalDecided,
            EvidenceRecorded,
            ProofClosed,
            KnowledgeAssetUpdated,
            LineageDeclared,
            ProofGapDetected,
            ProofGapClosed,
        )
    }
)
"""Every event type string mapped to its model class (immutable)."""
