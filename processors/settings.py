"""Settings of the live processing runtime (part of the one ``Settings`` object)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ProcessorSettings"]


class ProcessorSettings(BaseModel):
    """How the faust worker consumes, batches, retries and serves queries."""

    model_config = ConfigDict(frozen=True)

    group_prefix: str = Field(
        default="proofstream", description="Consumer group of a projection: <prefix>.<name>."
    )
    projections: tuple[str, ...] = Field(
        default=("facts", "identity", "catalog", "evidence", "lineage", "archive"),
        description="Projections the worker runs, one consumer group each.",
    )
    engine: Literal["faust", "batch"] = Field(
        default="faust",
        description="faust: per-message streams with noack_take; batch: librdkafka batch "
        "consume (processors.batch_engine), same checkpoint, much faster.",
    )
    batch_max: int = Field(default=2000, ge=1, le=100_000)
    batch_within_s: float = Field(default=0.25, gt=0)
    retry_initial_s: float = Field(default=0.1, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
    web_host: str = Field(default="127.0.0.1", description="Bind address of the query API.")
    web_port: int = Field(default=6066, ge=1, le=65535)
    topic_replication: int = Field(default=1, ge=1, description="For faust's internal topics.")
    proof_closure: bool = Field(default=True, description="Run the proof-gap detector.")
    proof_window_s: int = Field(
        default=900, ge=0, description="A merged PR needs browser proof within this window."
    )
    proof_tick_s: float = Field(default=5.0, gt=0, description="How often windows are checked.")
