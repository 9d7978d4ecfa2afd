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
        default="proofstream", description="Consumer group of a plane: <prefix>.<name>."
    )
    projections: tuple[str, ...] = Field(
        default=ALL_PLANES,
        description="Planes the worker runs (`proofstream run --planes` overrides).",
    )
    split: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: on a machine with two or more cores, `proofstream run` runs the "
        "Python-heavy planes (identity, catalog) in a second worker process.",
    )
    batch_max: int = Field(default=20_000, ge=1, le=1_000_000, description="Records per batch.")
    batch_max_bytes: int = Field(
        default=16 << 20, ge=1 << 16, description="Bytes per batch (keeps memory flat)."
    )
    batch_within_s: float = Field(
        default=0.1, gt=0, description="How long a batch waits for more records."
    )
    lane_queue: int = Field(
        default=2, ge=1, le=64, description="Batches queued per plane before the consumer waits."
    )
    retry_initial_s: float = Field(default=0.1, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
    web_host: str = Field(
        default="127.0.0.1",
        description="Bind address of the worker API; anything but loopback needs api_token.",
    )
    web_port: int = Field(default=6066, ge=0, le=65535)
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the worker API (secrets dir: processors__api_token).",
    )
    topic_replication: int = Field(default=1, ge=1, description="For faust's internal topics.")
    proof_closure: bool = Field(default=True, description="Run the proof-gap detector.")
    proof_window_s: int = Field(
        default=900, ge=0, description="A merged PR needs browser proof within this window."
    )
    proof_tick_s: float = Field(default=5.0, gt=0, description="How often windows are checked.")
    stop_timeout_s: float = Field(
        default=20.0, gt=0, description="SIGTERM: longest wait for a batch to finish."
    )
