"""Identities of the lineage plane: run ids and dataset names. Pure, no client library.

Run ids are UUIDv5 under one fixed namespace, so a replay derives the same ids
(and the same digests) as the live plane did. Dataset names follow the
OpenLineage naming spec (``kafka://{host:port}`` / ``{topic}``,
``clickhouse://{host}:{port}`` / ``{db}.{table}``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "LINEAGE_NAMESPACE",
    "DatasetRef",
    "agent_run_id",
    "clickhouse_dataset",
    "dataset_of",
    "kafka_dataset",
    "processor_run_id",
]

LINEAGE_NAMESPACE = uuid.UUID("6f1d9c52-3b0e-5a47-9c1e-70726f6f6673")
"""Fixed UUIDv5 namespace of every run id proofstream derives (never change it:
run ids, and so replay digests, depend on it)."""


@dataclass(frozen=True, slots=True, order=True)
class DatasetRef:
    """An OpenLineage dataset identity (naming spec: namespace + name)."""

    namespace: str
    name: str


def agent_run_id(project: str, run_id: str, attempt: int) -> str:
    """The OpenLineage runId of an agent run attempt (deterministic). Pure."""
    return str(uuid.uuid5(LINEAGE_NAMESPACE, f"{project}/{run_id}/{attempt}"))


def processor_run_id(job_name: str) -> str:
    """The runId of a streaming processor job: one endless run per job. Pure."""
    return str(uuid.uuid5(LINEAGE_NAMESPACE, f"processor/{job_name}"))


def kafka_dataset(bootstrap: str, topic: str) -> DatasetRef:
    """Kafka topic per the OL naming spec: ``kafka://{host:port}`` / ``{topic}``
    (the first bootstrap server names the cluster). Pure."""
    first = bootstrap.split(",", maxsplit=1)[0].strip()
    return DatasetRef(f"kafka://{first}", topic)


def clickhouse_dataset(host: str, port: int, database: str, table: str) -> DatasetRef:
    """ClickHouse table per the OL naming spec: ``clickhouse://{host}:{port}`` /
    ``{db}.{table}``. Pure."""
    return DatasetRef(f"clickhouse://{host}:{port}", f"{database}.{table}")


def dataset_of(name: str, project: str) -> DatasetRef:
    """The dataset a ``lineage.declared`` ref names. Pure.

    A URI-shaped ref already names its namespace (``kafka://``, ``clickhouse://``,
    ``s3://``…); any other ref is a dataset of the project
    (``fractalops://{project}``).
    """
    parts = urlsplit(name)
    if parts.scheme and parts.netloc:
        return DatasetRef(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or name)
    return DatasetRef(f"fractalops://{project}", name)
