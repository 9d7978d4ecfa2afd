"""The envelope every event carries: who produced it, who acted, on what, and why.

These models mirror the named Avro types ``fractalops.events.envelope.*`` that
every event schema embeds (one schema per event type, sharing these types).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from schemas import rules
from schemas.base import FrozenModel

__all__ = [
    "Actor",
    "ActorKind",
    "Attributes",
    "Digest",
    "Identity",
    "Name",
    "Producer",
    "Subject",
    "TeamType",
    "Text",
    "Trace",
]

Text = Annotated[str, AfterValidator(rules.check_text)]
"""Free text, at most 4 KiB of UTF-8."""
Name = Annotated[str, StringConstraints(min_length=1), AfterValidator(rules.check_text)]
"""A non-empty name, ref or id, at most 4 KiB of UTF-8."""
Identity = Annotated[str, StringConstraints(min_length=1), AfterValidator(rules.check_identity)]
"""A workload or actor identity: never a raw IP address, never a token."""
Digest = Annotated[str, AfterValidator(rules.check_sha256)]
"""A SHA-256 digest: 64 lowercase hex characters."""
Attributes = Annotated[dict[str, str], AfterValidator(rules.check_attributes)]
"""Bounded free-form string map (≤ 32 entries, keys ≤ 256 B, values ≤ 1 KiB)."""


class ActorKind(StrEnum):
    """Who acted: an AI agent, a human, or the system itself."""

    AGENT = "agent"
    HUMAN = "human"
    SYSTEM = "system"


class TeamType(StrEnum):
    """The team type from the seed an agent belongs to."""

    AGENTSQUAD = "agentsquad"
    OUROBOROS = "ouroboros"
    RESEARCH = "research"


class Producer(FrozenModel):
    """The service that emitted the event, and its runtime identity."""

    field_path = "producer"

    service: Name = Field(description="Name of the emitting service.")
    version: Name = Field(description="Version of the emitting service.")
    workload_id: Identity = Field(
        description="SPIFFE ID or runtime asset id of the emitting workload; never a raw IP."
    )


class Actor(FrozenModel):
    """Who performed the action the event records."""

    field_path = "actor"

    kind: ActorKind = Field(description="agent, human or system.")
    id: Identity = Field(description="Stable identity of the actor; never a raw IP or a token.")
    role: Name = Field(description="Role the actor played (planner, tester, committer, ...).")
    team_type: TeamType | None = Field(
        default=None, description="Team type of the actor, when it belongs to one."
    )


class Subject(FrozenModel):
    """What the action was about: the project, repository and run."""

    field_path = "subject"

    project: Name = Field(description="Project the action belongs to.")
    repository: Name | None = Field(
        default=None, description="Repository as 'owner/name', when the action concerns one."
    )
    run_id: Name | None = Field(
        default=None, description="Run id; the Kafka partition key, so a run stays ordered."
    )
    attempt: int = Field(default=1, ge=1, le=2**31 - 1, description="Attempt number of the run.")
    generation: int = Field(
        default=0, ge=0, le=2**63 - 1, description="Generation of the run's workspace or plan."
    )


class Trace(FrozenModel):
    """W3C trace context, so replayed work links to the original trace."""

    field_path = "trace"

    traceparent: Name = Field(description="W3C traceparent header value.")
    tracestate: Text = Field(default="", description="W3C tracestate header value.")
