"""Settings of the live processing runtime (part of the one ``Settings`` object)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["ALL_PLANES", "ProcessorSettings"]

ALL_PLANES = ("facts", "archive", "evidence", "lineage", "identity", "catalog")
"""Every plane the registry knows, in the order a worker opens them."""


class ProcessorSettings(BaseModel):
    """How the worker consumes, batches, retries, splits and serves its API."""

    model_config = ConfigDict(frozen=True)

    group_prefix: str = Field(
        default="proofstream", description="Consumer group of a plane: `<prefix>.<name>`."
    )
    projections: tuple[str, ...] = Field(
        default=ALL_PLANES,
        description="Planes the worker runs, any of facts, archive, evidence, lineage, "
        "identity, catalog (`proofstream run --planes` overrides).",
    )
    split: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: on a machine with two or more cores, `proofstream run` runs the "
        "Python-heavy planes (identity, catalog) in a second worker process; off: one process.",
    )
    batch_max: int = Field(default=20_000, ge=1, le=1_000_000, description="Records per batch.")
    batch_max_bytes: int = Field(
        default=16 << 20, ge=1 << 16, description="Bytes per batch (keeps memory flat)."
    )
    batch_within_s: float = Field(
        default=0.1, gt=0, description="Seconds a batch waits for more records."
    )
    lane_queue: int = Field(
        default=2, ge=1, le=64, description="Batches queued per plane before the consumer waits."
    )
    retry_initial_s: float = Field(
        default=0.1,
        gt=0,
        description="First wait in seconds after a retryable store or DLQ failure; later "
        "waits grow exponentially up to retry_max_s.",
    )
    retry_max_s: float = Field(
        default=10.0, gt=0, description="Longest wait in seconds between those retries."
    )
    web_host: str = Field(
        default="127.0.0.1",
        description="Bind address of the worker API; anything but loopback needs api_token.",
    )
    web_port: int = Field(
        default=6066,
        ge=0,
        le=65535,
        description="Port of the worker API; a split's second worker process uses the next one.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token the worker API then requires on every route (needed when "
        "web_host is not loopback); read from the file `processors__api_token` in the secrets "
        "directory.",
    )
    topic_replication: int = Field(
        default=1,
        ge=1,
        description="Replication factor of proof closure's internal topics (the by-PR"
        " topic, the table's changelog): 3 on a cluster.",
    )
    proof_closure: bool = Field(default=True, description="Run the proof-gap detector.")
    proof_window_s: int = Field(
        default=900,
        ge=0,
        description="Seconds after its merge within which a PR needs browser proof.",
    )
    proof_tick_s: float = Field(
        default=5.0, gt=0, description="Seconds between checks of the proof windows."
    )
    stop_timeout_s: float = Field(
        default=20.0,
        gt=0,
        description="On SIGTERM, the longest wait in seconds for a batch to finish.",
    )
