"""``ClickHouseStore``: the facts plane's store, embedded (chDB) or on a server.

One code path for both backends (``ClickHouseSettings.dsn``: ``chdb:///abs/dir``,
the default under the state dir, or ``http(s)://user@host:8123`` with the
password from the secrets directory). Each block of :class:`FactsWrites` is one
``INSERT INTO land_<type> FORMAT Avro`` (clickhouse-connect's raw insert), so
ClickHouse's own Avro reader decodes it and the materialized views fill
``proof_facts`` and the typed tables in SQL (:mod:`sinks.facts.views`).

Idempotence, two layers: every table is a ``ReplacingMergeTree(ingest_version)``
ending in ``event_id`` (any re-delivered event collapses under ``FINAL``), and
every block carries an ``insert_deduplication_token`` (deduplicated in the
dependent views too; the tables set ``non_replicated_deduplication_window``).

Durability: inserts are synchronous, so ``write()`` is durable on return and
``flush()`` only records the watermark, after the data it covers.

A **generation store** is this same class with a table ``suffix`` (``__g3``):
its own landing tables and views feed the shadow tables ``proof_facts__g3`` …,
and its watermark is recorded under its own name.

Errors: a backend that cannot be reached raises ``SinkUnavailableError``; a block
ClickHouse rejects (a corrupt body, a value a column refuses) raises
``PermanentError`` with ClickHouse's reason, and the runtime narrows the batch
down to the rejected records. chDB allows one engine directory per process: the
store owns its client and ``close()`` releases it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from schemas.catalog import SchemaCatalog, load_catalog
from schemas.errors import ConfigError, PermanentError, SinkUnavailableError
from sinks.base import Watermark
from sinks.facts.avro_types import JSON_SETTINGS, ident
from sinks.facts.cluster import cluster_statement
from sinks.facts.migrate import DDL, apply_migrations, as_released, column_types, ensure_pipeline
from sinks.facts.projection import PROJECTION_VERSION, FactsWrites
from sinks.facts.settings import ClickHouseSettings, backend_of
from sinks.facts.views import landing_table, pipeline_checksum, pipeline_statements
from sinks.store import StoreBase

__all__ = ["TRANSIENT_CODES", "ClickHouseStore", "connect", "is_unavailable", "layout"]

_INSERT_SETTINGS: Mapping[str, Any] = {
    **JSON_SETTINGS,
    "input_format_avro_allow_missing_fields": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}


def layout(settings: ClickHouseSettings) -> tuple[DDL, dict[str, Any]]:
    """How DDL runs and what every insert adds: as released on one server (or chDB),
    rewritten for the cluster when one is configured (:mod:`sinks.facts.cluster`)."""
    cluster = settings.cluster
    if cluster is None:
        return as_released, {}

    def ddl(statement: str) -> list[str]:
        return cluster_statement(statement, cluster, settings.database)

    # an insert returns only once the shards hold the rows: durable, as on one server
    return ddl, {"distributed_foreground_insert": 1}


TRANSIENT_CODES: Mapping[int, str] = {
    159: "TIMEOUT_EXCEEDED",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    203: "NO_FREE_CONNECTION",
    209: "SOCKET_TIMEOUT",
    210: "NETWORK_ERROR",
    225: "NO_ZOOKEEPER",
    236: "ABORTED",
    241: "MEMORY_LIMIT_EXCEEDED",
    242: "TABLE_IS_READ_ONLY",
    243: "NOT_ENOUGH_SPACE",
    252: "TOO_MANY_PARTS",
    279: "ALL_CONNECTION_TRIES_FAILED",
    285: "TOO_FEW_LIVE_REPLICAS",
    286: "UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE",
    319: "UNKNOWN_STATUS_OF_INSERT",
    394: "QUERY_WAS_CANCELLED",
    439: "CANNOT_SCHEDULE_TASK",
    473: "DEADLOCK_AVOIDED",
    999: "KEEPER_EXCEPTION",
}
"""Server error codes that say the server cannot take the request *now* (overload,
Keeper away, a full disk, merges behind), not that it refuses these rows: the same
insert, with the same dedup token, is retried. Read as a refusal, they would send
good records to the DLQ."""


def is_unavailable(exc: ClickHouseError) -> bool:
    """Whether a ClickHouse error means the backend is unreachable or overloaded
    (retry), not that it refused the request (permanent)."""
    return isinstance(exc, OperationalError) or getattr(exc, "code", None) in TRANSIENT_CODES


def connect(settings: ClickHouseSettings, state_dir: Path, *, name: str = "facts") -> Client:
    """A client of the configured ClickHouse with the database created and selected.

    Raises ``SinkUnavailableError`` when it cannot be reached and ``ConfigError``
    for a bad DSN. Messages never repeat the DSN's credentials.
    """
    dsn = settings.resolve_dsn(state_dir)
    password = settings.password.get_secret_value() if settings.password else None
    try:
        kwargs: dict[str, Any] = {"dsn": dsn}
        if password is not None and backend_of(dsn) == "http":
            kwargs["password"] = password
        client = clickhouse_connect.get_client(**kwargs)
    except ClickHouseError as exc:
        raise SinkUnavailableError(name, f"cannot open the {backend_of(dsn)} store: {exc}") from exc
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {ident(settings.database)}")
        client.database = settings.database
    except ClickHouseError as exc:
        client.close()
        if is_unavailable(exc):
            raise SinkUnavailableError(name, f"cannot prepare {settings.database}: {exc}") from exc
        raise ConfigError(f"{name}: preparing {settings.database} failed: {exc}") from exc
    return client


class ClickHouseStore(StoreBase[FactsWrites]):
    """The facts plane's store (module docstring). Build it with :meth:`open`, or on
    an open client for a generation (``suffix``)."""

    def __init__(
        self,
        client: Client,
        *,
        name: str = "facts",
        suffix: str = "",
        catalog: SchemaCatalog | None = None,
        version: int = PROJECTION_VERSION,
        owns_client: bool = True,
        ddl: DDL = as_released,
        insert_settings: Mapping[str, Any] | None = None,
        cluster: str | None = None,
    ) -> None:
        super().__init__(name)
        self._client = client
        self.cluster = cluster
        """The ClickHouse cluster the tables span (``ddl`` says how), or None."""
        self._suffix = suffix
        self._owns = owns_client
        self._insert_settings = {**_INSERT_SETTINGS, **(insert_settings or {})}
        try:
            statements = pipeline_statements(
                catalog or load_catalog(), version, column_types(client), suffix
            )
            ensure_pipeline(client, suffix, statements, pipeline_checksum(statements), ddl)
        except ClickHouseError as exc:
            if owns_client:
                client.close()
            if is_unavailable(exc):
                raise SinkUnavailableError(name, f"cannot install the ingest views: {exc}") from exc
            raise ConfigError(f"{name}: installing the ingest views failed: {exc}") from exc

    @classmethod
    def open(
        cls, settings: ClickHouseSettings, state_dir: Path, *, name: str = "facts"
    ) -> ClickHouseStore:
        """Connect, apply pending migrations, install the ingest views: the live store."""
        client = connect(settings, state_dir, name=name)
        ddl, extra = layout(settings)
        try:
            apply_migrations(client, ddl=ddl)
        except ClickHouseError as exc:
            client.close()
            if is_unavailable(exc):
                raise SinkUnavailableError(name, f"cannot migrate: {exc}") from exc
            raise ConfigError(f"{name}: migrating failed: {exc}") from exc
        except BaseException:
            client.close()
            raise
        return cls(client, name=name, ddl=ddl, insert_settings=extra, cluster=settings.cluster)

    @property
    def client(self) -> Client:
        """The open client (generations and tests share it). Raises after ``close()``."""
        self._check_open()
        return self._client

    @property
    def suffix(self) -> str:
        return self._suffix

    def _apply(self, writes: FactsWrites) -> None:
        for block in writes.blocks:
            table = landing_table(block.event_type) + self._suffix
            try:
                self._client.raw_insert(
                    table,
                    insert_block=block.data,
                    fmt="Avro",
                    settings={**self._insert_settings, "insert_deduplication_token": block.token},
                )
            except ClickHouseError as exc:
                if is_unavailable(exc):
                    raise SinkUnavailableError(self.name, f"insert into {table}: {exc}") from exc
                raise PermanentError(
                    f"{self.name}: {table} rejected {block.count} record(s): {exc}"
                ) from exc

    def _persist(self, marks: Watermark) -> None:
        rows = sorted(marks.items())
        try:
            self._client.insert(
                "watermarks",
                [
                    [self.name] * len(rows),
                    [t for (t, _), _ in rows],
                    [p for (_, p), _ in rows],
                    [o for _, o in rows],
                ],
                column_names=["projection_name", "topic", "partition", "offset"],
                column_oriented=True,
            )
        except ClickHouseError as exc:
            raise SinkUnavailableError(self.name, f"watermark insert failed: {exc}") from exc

    def _load_watermark(self) -> Watermark:
        try:
            result = self._client.query(
                "SELECT topic, partition, max(offset) FROM watermarks"
                " WHERE projection_name = {projection:String} GROUP BY topic, partition",
                parameters={"projection": self.name},
            )
        except ClickHouseError as exc:
            raise SinkUnavailableError(self.name, f"watermark read failed: {exc}") from exc
        return {(str(t), int(p)): int(o) for t, p, o in result.result_rows}

    def _release(self) -> None:
        if self._owns:
            self._client.close()
