"""Versioned migrations of the facts plane's tables (``migrations/NNNN_name.sql``).

The tables, views and the watermarks table are released DDL: applied in order,
recorded in ``schema_migrations``, immutable once released (add a new file). The
landing tables and materialized views that fill them are generated from the
Avro schemas instead (:mod:`sinks.facts.views`) and rebuilt when the schemas
change (:func:`ensure_pipeline`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from importlib import resources

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, ConfigDict

from schemas.errors import ConfigError
from sinks.facts.avro_types import ident, quote
from sinks.facts.views import TABLE_COLUMNS

__all__ = [
    "DDL",
    "Migration",
    "apply_migrations",
    "as_released",
    "column_types",
    "drop_pipeline",
    "ensure_pipeline",
    "forget_pipeline",
    "load_migrations",
]

_MIGRATIONS_PACKAGE = "sinks.facts.migrations"


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


DDL = Callable[[str], list[str]]
"""How a released statement is run here: as it is, or its cluster form."""


def as_released(statement: str) -> list[str]:
    return [statement]


def apply_migrations(
    client: Client, migrations: Sequence[Migration] | None = None, ddl: DDL = as_released
) -> list[int]:
    """Apply the migrations not yet recorded in ``schema_migrations``; return their versions.

    Call with the client's database already selected. Idempotent: a second call
    applies nothing. Raises :class:`ConfigError` when an applied migration's file
    changed since (released migrations are immutable: add a new one). ``ddl``
    rewrites each statement (the cluster layout, :mod:`sinks.facts.cluster`).
    """
    migrations = load_migrations() if migrations is None else migrations
    for statement in ddl(_SCHEMA_MIGRATIONS.strip()):
        client.command(statement)
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
            for rewritten in ddl(statement):
                client.command(rewritten)
        client.insert(
            "schema_migrations",
            [[migration.version], [migration.name], [migration.checksum]],
            column_names=["version", "name", "checksum"],
            column_oriented=True,
        )
        done.append(migration.version)
    return done


_PIPELINES = """
CREATE TABLE IF NOT EXISTS ingest_pipelines
(
    suffix     String,
    checksum   String,
    objects    Array(String),
    revision   UInt64
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY suffix"""


def ensure_pipeline(
    client: Client,
    suffix: str,
    statements: Sequence[tuple[str, str]],
    checksum: str,
    ddl: DDL = as_released,
) -> bool:
    """Create the landing tables and views of the tables with ``suffix`` unless the
    same SQL (``checksum``) is installed; a different one is dropped and recreated
    (landing tables hold no data, so this loses nothing). Returns whether anything
    was (re)created. Call before the first insert, from the process that owns the
    store."""
    for statement in ddl(_PIPELINES.strip()):
        client.command(statement)
    rows = client.query(
        "SELECT checksum, objects FROM ingest_pipelines FINAL WHERE suffix = {s:String}",
        parameters={"s": suffix},
    ).result_rows
    if rows and rows[0][0] == checksum:
        return False
    installed = [str(name) for name in rows[0][1]] if rows else []
    drop_pipeline(client, installed, ddl)
    for _, sql in statements:
        for rewritten in ddl(sql):
            client.command(rewritten)
    revision = time.time_ns() // 1000
    client.insert(
        "ingest_pipelines",
        [[suffix, checksum, [name for name, _ in statements], revision]],
        column_names=["suffix", "checksum", "objects", "revision"],
    )
    return True


def column_types(client: Client) -> dict[str, dict[str, str]]:
    """Table → column → type of the plane's base tables, as the migrations made them."""
    tables = list(TABLE_COLUMNS)
    rows = client.query(
        "SELECT table, name, type FROM system.columns"
        " WHERE database = currentDatabase() AND table IN {tables:Array(String)}",
        parameters={"tables": tables},
    ).result_rows
    out: dict[str, dict[str, str]] = {}
    for table, name, kind in rows:
        out.setdefault(str(table), {})[str(name)] = str(kind)
    missing = [t for t in tables if t not in out]
    if missing:
        raise ConfigError(f"facts tables missing (migrations not applied?): {missing}")
    return out


def drop_pipeline(client: Client, objects: Sequence[str], ddl: DDL = as_released) -> None:
    """Drop landing tables and views by name (views first, so no insert can reach a
    half-dropped pipeline), through ``ddl`` (on every node of a cluster). Idempotent."""
    views = [name for name in objects if name.startswith("mv_")]
    tables = [name for name in objects if not name.startswith("mv_")]
    for name in [*views, *tables]:
        for statement in ddl(f"DROP TABLE IF EXISTS {ident(name)}"):
            client.command(statement)


def forget_pipeline(client: Client, suffix: str, ddl: DDL = as_released) -> None:
    """Drop the pipeline of ``suffix`` and its record. Idempotent."""
    for statement in ddl(_PIPELINES.strip()):
        client.command(statement)
    rows = client.query(
        "SELECT objects FROM ingest_pipelines FINAL WHERE suffix = {s:String}",
        parameters={"s": suffix},
    ).result_rows
    if rows:
        drop_pipeline(client, [str(name) for name in rows[0][0]], ddl)
    client.command(f"DELETE FROM ingest_pipelines WHERE suffix = {quote(suffix)}")
