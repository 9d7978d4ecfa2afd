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
    "AttributeKey",
    "AttributeValue",
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
"""Free text, at most 4 KiB of UTF-8, holding no credential."""
Name = Annotated[str, StringConstraints(min_length=1), AfterValidator(rules.check_text)]
"""A non-empty descriptive name (a version, a media type), like :data:`Text`."""
Identity = Annotated[str, StringConstraints(min_length=1), AfterValidator(rules.check_identity)]
"""A non-empty identity-bearing value (an id, a ref, a login, a URI; the list is in
``schemas.rules``): like :data:`Name`, and never a raw IP address."""
Digest = Annotated[str, AfterValidator(rules.check_sha256)]
"""A SHA-256 digest: 64 lowercase hex characters."""
AttributeKey = Annotated[str, AfterValidator(rules.check_attribute_key)]
"""An ``attributes`` key: at most 256 B, holding no credential."""
AttributeValue = Annotated[str, AfterValidator(rules.check_attribute_value)]
"""An ``attributes`` value: at most 1 KiB, holding no credential."""
Attributes = Annotated[dict[AttributeKey, AttributeValue], AfterValidator(rules.check_attributes)]
"""Bounded free-form string map (≤ 32 entries, keys ≤ 256 B, values ≤ 1 KiB), holding
no credential in a key or a value."""


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

    service: Identity = Field(description="Name of the emitting service.")
    version: Name = Field(description="Version of the emitting service.")
    workload_id: Identity = Field(
        description="SPIFFE ID or runtime asset id of the emitting workload; never a raw IP."
    )


class Actor(FrozenModel):
    """Who performed the action the event records."""

    field_path = "actor"

    kind: ActorKind = Field(description="agent, human or system.")
    id: Identity = Field(description="Stable identity of the actor; never a raw IP or a token.")
    role: Identity = Field(description="Role the actor played (planner, tester, committer, ...).")
    team_type: TeamType | None = Field(
        default=None, description="Team type of the actor, when it belongs to one."
    )


class Subject(FrozenModel):
    """What the action was about: the project, repository and run."""

    field_path = "subject"

    project: Identity = Field(description="Project the action belongs to.")
    repository: Identity | None = Field(
        default=None, description="Repository as 'owner/name', when the action concerns one."
    )
    run_id: Identity | None = Field(
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
