"""``ClickHouseSink``: the facts plane in ClickHouse, embedded (chDB) or on a server.

The only module that imports ``clickhouse_connect``. One code path serves both
backends: ``ClickHouseSettings.dsn`` is ``chdb:///abs/dir`` (embedded chDB, the
default at ``<state_dir>/clickhouse``) or ``http(s)://user:pass@host:port``.

Idempotence (DESIGN §Processing guarantees), two layers:

1. Every table is a ``ReplacingMergeTree(ingest_version)`` whose sorting key ends
   in ``event_id``: any re-delivered event collapses to one row on merge and
   under ``FINAL``, whatever batch it came in.
2. Every insert carries ``insert_deduplication_token`` derived from the batch's
   offsets (``sinks.clickhouse.dedup_token``), and the tables set
   ``non_replicated_deduplication_window``: re-sending the exact same batch after
   a crash is dropped by the server before it writes a part.

Durability: inserts are synchronous (no ``async_insert``); chDB and the server
return only after the part is written. So ``write()`` is already durable and
``flush()`` only records the watermark, after the data it covers.

chDB allows one engine directory per process: the sink owns its client, and
``close()`` releases it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; pyproject is shared
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from pydantic import BaseModel, ConfigDict

from schemas.errors import ConfigError, InvalidQueryError, PermanentError, SinkUnavailableError
from sinks.base import Batch, LoggedEvent, Watermark, advance, high_offsets
from sinks.facts import FactsProjection, TableRows
from sinks.query import QueryResult, check_read_only

__all__ = [
    "ClickHouseSettings",
    "ClickHouseSink",
    "Migration",
    "apply_migrations",
    "batch_signature",
    "dedup_token",
    "load_migrations",
    "run_query",
]


class ClickHouseSettings(BaseModel):
    """Where the facts plane lives. ``dsn=None`` means embedded chDB under the state dir."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dsn: str | None = None
    database: str = "proofstream"

    def resolve_dsn(self, state_dir: Path) -> str:
        """The DSN to connect to: ``dsn`` as given, else ``chdb://<abs state_dir>/clickhouse``.

        Raises :class:`ConfigError` for a scheme other than chdb, http or https.
        """
        if self.dsn is None:
            return f"chdb://{(Path(state_dir) / 'clickhouse').resolve()}"
        backend_of(self.dsn)
        return self.dsn


def backend_of(dsn: str) -> str:
    """``"chdb"`` or ``"http"`` for a DSN; raises :class:`ConfigError` otherwise. Pure."""
    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        if not parts.path.startswith("/") or parts.netloc:
            raise ConfigError(
                f"chDB DSN must name an absolute directory (chdb:///abs/dir): {dsn!r}"
            )
        return "chdb"
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ConfigError(f"ClickHouse DSN has no host: {dsn!r}")
        return "http"
    raise ConfigError(
        f"unsupported ClickHouse DSN scheme {parts.scheme!r}: use chdb:// or http(s)://"
    )


# --- migrations ---------------------------------------------------------------------

_MIGRATIONS_PACKAGE = "sinks.clickhouse_migrations"


class Migration(BaseModel):
    """One ``NNNN_name.sql`` file: its version, name, statements and checksum."""

    model_config = ConfigDict(frozen=True)

    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


def _statements(sql: str) -> tuple[str, ...]:
    # Statements end with ';' at the end of a line; comment-only chunks are dropped.
    out = []
    for chunk in sql.split(";\n"):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--"))
        if body.strip().rstrip(";").strip():
            out.append(body.strip().rstrip(";"))
    return tuple(out)


def load_migrations() -> tuple[Migration, ...]:
    """Every migration shipped in ``sinks/clickhouse_migrations``, in version order."""
    found = []
    for entry in resources.files(_MIGRATIONS_PACKAGE).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        stem = entry.name.removesuffix(".sql")
        number, _, name = stem.partition("_")
        text = entry.read_text(encoding="utf-8")
        found.append(
            Migration(
                version=int(number),
                name=name,
                statements=_statements(text + "\n"),
                checksum=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    return tuple(sorted(found, key=lambda m: m.version))


_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
ORDER BY version"""


def apply_migrations(client: Client, migrations: Sequence[Migration] | None = None) -> list[int]:
    """Apply the migrations not yet recorded in ``schema_migrations``; return their versions.

    Call with the client's database already selected. Idempotent: a second call
    applies nothing. Raises :class:`ConfigError` when an applied migration's file
    changed since (released migrations are immutable: add a new one).
    """
    migrations = load_migrations() if migrations is None else migrations
    client.command(_SCHEMA_MIGRATIONS)
    applied = {
        int(version): checksum
        for version, checksum in client.query(
            "SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version"
        ).result_rows
    }
    done = []
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                label = f"{migration.version:04d}_{migration.name}"
                raise ConfigError(f"migration {label} changed after it was applied")
            continue
        for statement in migration.statements:
            client.command(statement)
        client.insert(
            "schema_migrations",
            [[migration.version], [migration.name], [migration.checksum]],
            column_names=["version", "name", "checksum"],
            column_oriented=True,
        )
        done.append(migration.version)
    return done


# --- the sink -----------------------------------------------------------------------

_UTC_MICROS = pa.timestamp("us", tz="UTC")
_ARROW_TYPES: Mapping[str, pa.DataType] = {
    "occurred_at": _UTC_MICROS,
    "merged_at": _UTC_MICROS,
    "attributes": pa.map_(pa.string(), pa.string()),
    "attempt": pa.uint32(),
    "generation": pa.uint64(),
    "log_partition": pa.uint32(),
    "log_offset": pa.uint64(),
    "ingest_version": pa.uint32(),
    "duration_ms": pa.uint64(),
    "retries": pa.uint32(),
    "number": pa.uint64(),
    "installation_id": pa.uint64(),
    "size_bytes": pa.uint64(),
    "leaf_index": pa.uint64(),
    "tree_size": pa.uint64(),
}
"""Arrow type per column name (the same name has the same type in every table);
every other column is a string."""


def to_arrow(rows: TableRows) -> pa.Table:
    """The Arrow table ClickHouse ingests for ``rows``. Pure."""
    return pa.Table.from_arrays(
        [
            pa.array(values, type=_ARROW_TYPES.get(name, pa.string()))
            for name, values in zip(rows.columns, rows.data, strict=True)
        ],
        names=list(rows.columns),
    )


def batch_signature(batch: Sequence[LoggedEvent]) -> str:
    """The log positions of ``batch`` as a short, order-independent string. Pure.

    Readable offset ranges per partition plus a digest of every offset, so two
    batches share a signature only when they hold exactly the same positions (the
    same range with a gap elsewhere differs).
    """
    offsets: dict[tuple[str, int], list[int]] = {}
    for item in batch:
        pos = item.position
        offsets.setdefault((pos.topic, pos.partition), []).append(pos.offset)
    digest = hashlib.blake2b(digest_size=12)
    spans = []
    for (topic, partition), values in sorted(offsets.items()):
        values.sort()  # int sort in C: far cheaper than sorting the events
        spans.append(f"{topic}:{partition}:{values[0]}-{values[-1]}")
        digest.update(f"{topic}\0{partition}\0".encode())
        digest.update(",".join(map(str, values)).encode())
    return f"{','.join(spans)}:{digest.hexdigest()}"


def dedup_token(table: str, batch: Sequence[LoggedEvent], version: int) -> str:
    """The ``insert_deduplication_token`` of ``batch``'s rows in ``table``. Pure.

    ``version`` is the projection version: a rebuild with a new mapping is not
    dropped as a duplicate of the old one.
    """
    return _token(table, version, batch_signature(batch))


def _token(table: str, version: int, signature: str) -> str:
    return f"{table}:v{version}:{signature}"


class ClickHouseSink:
    """The facts plane sink (see the module docstring for the guarantees).

    Opening connects, creates the database if needed and applies pending
    migrations; it raises :class:`SinkUnavailableError` when the store cannot be
    reached and :class:`ConfigError` for a bad DSN.
    """

    def __init__(
        self,
        dsn: str,
        *,
        database: str = "proofstream",
        name: str = "clickhouse-facts",
        projection: FactsProjection | None = None,
    ) -> None:
        self._backend = backend_of(dsn)
        self._name = name
        self._database = database
        self._projection = projection or FactsProjection()
        self._pending: Watermark = {}
        try:
            client = clickhouse_connect.get_client(dsn=dsn)
        except ClickHouseError as exc:
            raise SinkUnavailableError(name, f"cannot open {_redact(dsn)}: {exc}") from exc
        self._client: Client | None = client
        try:
            client.command(f"CREATE DATABASE IF NOT EXISTS {_ident(database)}")
            client.database = database
            apply_migrations(client)
        except ClickHouseError as exc:
            self.close()
            if _is_unavailable(exc):
                raise SinkUnavailableError(name, f"cannot prepare {database}: {exc}") from exc
            raise ConfigError(f"{name}: migrating {database} failed: {exc}") from exc
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, settings: ClickHouseSettings, state_dir: Path, **kwargs: Any) -> ClickHouseSink:
        """Open the sink that ``settings`` describe (embedded under ``state_dir`` by default)."""
        return cls(settings.resolve_dsn(state_dir), database=settings.database, **kwargs)

    @property
    def name(self) -> str:
        return self._name

    @property
    def backend(self) -> str:
        """``"chdb"`` (embedded) or ``"http"`` (server)."""
        return self._backend

    @property
    def client(self) -> Client:
        """The open client, for queries. Raises :class:`SinkUnavailableError` after ``close()``."""
        if self._client is None:
            raise SinkUnavailableError(self._name, "sink is closed", retry_after=0.0)
        return self._client

    def write(self, batch: Batch) -> None:
        """Insert the rows of ``batch`` into every table it touches; one insert per table.

        Idempotent (ReplacingMergeTree on ``event_id`` plus a per-batch dedup token).
        Durable on return. Raises :class:`SinkUnavailableError` when ClickHouse cannot
        be reached (the runtime retries the same batch) and :class:`PermanentError`
        when it rejects the rows (the runtime isolates the offending events into the
        DLQ instead of retrying forever).
        """
        if not batch:
            return
        client = self.client
        version = self._projection.version
        signature = batch_signature(batch)  # once per batch, shared by every table
        for table, rows in self._projection.project(batch).items():
            if not len(rows):
                continue
            try:
                client.insert_arrow(
                    table,
                    to_arrow(rows),
                    settings={"insert_deduplication_token": _token(table, version, signature)},
                )
            except ClickHouseError as exc:
                if _is_unavailable(exc):
                    raise SinkUnavailableError(
                        self._name, f"insert into {table} failed: {exc}"
                    ) from exc
                raise PermanentError(f"{self._name}: {table} rejected the rows: {exc}") from exc
        self._pending = advance(self._pending, high_offsets(batch))

    def flush(self) -> None:
        """Record the watermark of everything written so far.

        Data is already durable when ``write()`` returns (synchronous inserts), so
        this is only the watermark step, and it runs after the data it covers.
        Raises :class:`SinkUnavailableError`; the pending watermark is kept for the
        next attempt.
        """
        if not self._pending:
            return
        marks = sorted(self._pending.items())
        try:
            self.client.insert(
                "watermarks",
                [
                    [self._name] * len(marks),
                    [t for (t, _), _ in marks],
                    [p for (_, p), _ in marks],
                    [o for _, o in marks],
                ],
                column_names=["projection_name", "topic", "partition", "offset"],
                column_oriented=True,
            )
        except ClickHouseError as exc:
            raise SinkUnavailableError(self._name, f"watermark insert failed: {exc}") from exc
        self._pending = {}

    def watermark(self) -> Watermark:
        """Last flushed offset per ``(topic, partition)``, read from ``watermarks``."""
        try:
            result = self.client.query(
                "SELECT topic, partition, max(offset) FROM watermarks"
                " WHERE projection_name = {projection:String} GROUP BY topic, partition",
                parameters={"projection": self._name},
            )
        except ClickHouseError as exc:
            raise SinkUnavailableError(self._name, f"watermark read failed: {exc}") from exc
        return {(str(t), int(p)): int(o) for t, p, o in result.result_rows}

    def close(self) -> None:
        """Release the client (and chDB's directory lock). Idempotent; does not flush."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


def run_query(target: ClickHouseSink | Client, sql: str, *, read_only: bool = True) -> QueryResult:
    """Run one analyst query and return its columns and rows.

    With ``read_only`` (the default) the SQL must pass
    :func:`sinks.query.check_read_only` and runs with ``readonly=1``. Raises
    :class:`InvalidQueryError` for a refused or failing query and
    :class:`SinkUnavailableError` when the store cannot be reached.
    """
    client = target.client if isinstance(target, ClickHouseSink) else target
    settings: dict[str, Any] = {}
    if read_only:
        sql = check_read_only(sql)
        settings["readonly"] = 1
    try:
        result = client.query(sql, settings=settings)
    except ClickHouseError as exc:
        if _is_unavailable(exc):
            raise SinkUnavailableError("clickhouse", str(exc)) from exc
        raise InvalidQueryError(sql, str(exc)) from exc
    return QueryResult(tuple(result.column_names), [tuple(row) for row in result.result_rows])


def _is_unavailable(exc: ClickHouseError) -> bool:
    from clickhouse_connect.driver.exceptions import OperationalError

    return isinstance(exc, OperationalError)


def _ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password:
        return dsn.replace(f":{parts.password}@", ":***@")
    return dsn
