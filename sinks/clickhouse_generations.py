"""Generations of the ClickHouse facts plane: shadow tables, digests, atomic swap.

The :class:`~sinks.generations.Rebuildable` port for ClickHouse. A generation's
data lives in a **slot**: the live generation in the base tables (``runs``), any
other in shadow tables with the slot's suffix (``runs__g3``), all in the *same*
database (chDB opens one data directory per process, so a second directory or
a second client is not an option: this class shares the live sink's client).

- ``allocate`` creates ``<table>__g<N>`` for every facts table with
  ``CREATE TABLE … AS <table>`` (same columns, engine and settings as live).
- ``digest`` is order-independent: per table ``count()`` and
  ``sum(cityHash64(tuple(<columns>)))`` (mod 2^64) over ``FINAL`` rows. ``tuple``
  keeps NULLs hashable (``cityHash64(NULL, …)`` is NULL and would vanish from the
  sum); a sum, unlike XOR, also counts a row that appears twice. Every column
  takes part except ``ingest_version``: it is the projection version, which a
  bug-fix rebuild changes on every row by design and which is recorded per
  generation instead. The log coordinates *do* take part: for the same log
  positions the live worker and a rebuild write the same ones.
- Restriction to a log range: ``proof_facts`` carries the log coordinates of
  every event; the typed tables are restricted to the ``event_id`` of those rows.
- ``swap`` runs ``EXCHANGE TABLES`` per table (atomic per table on the Atomic
  engine; pairs are exchanged one after another, so a query joining two tables
  in the same millisecond may see one new and one old). Views name the base
  tables, so they follow the swap. After the swap the previous live data sits in
  the swapped-in generation's slot and is recorded ``old`` there.
- The ``generations`` table (ReplacingMergeTree on a revision) records every
  generation: status, covered log range, digest, projection version, lineage.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import Batch, Watermark, advance, high_offsets
from sinks.clickhouse import ClickHouseSink, batch_signature, to_arrow
from sinks.facts import TABLE_COLUMNS, FactsProjection
from sinks.generations import (
    LIVE,
    Digest,
    Generation,
    GenerationStatus,
    LogRange,
    TableDiff,
)

__all__ = ["DIGEST_EXCLUDED", "ClickHouseGenerations", "ClickHouseShadowSink", "range_filter"]

DIGEST_EXCLUDED = frozenset({"ingest_version"})
"""Columns left out of digests and diffs (see the module docstring)."""

_GENERATIONS_DDL = """
CREATE TABLE IF NOT EXISTS generations
(
    projection_name    LowCardinality(String),
    generation         UInt32,
    status             LowCardinality(String),
    slot               String,
    created_at         DateTime64(6, 'UTC'),
    projection_version UInt32,
    covered            String,
    digest             String,
    lineage            String,
    note               String,
    revision           UInt64
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY (projection_name, generation)"""

_COLUMNS = (
    "projection_name",
    "generation",
    "status",
    "slot",
    "created_at",
    "projection_version",
    "covered",
    "digest",
    "lineage",
    "note",
    "revision",
)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def range_filter(covered: LogRange) -> str:
    """A SQL predicate on ``proof_facts`` log columns selecting ``covered``. Pure."""
    if not covered:
        return "0"
    return " OR ".join(
        f"(log_topic = {_quote(topic)} AND log_partition = {partition}"
        f" AND log_offset BETWEEN {first} AND {last})"
        for (topic, partition), (first, last) in sorted(covered.items())
    )


def _covered_json(covered: LogRange) -> str:
    return orjson.dumps(
        [
            {"topic": t, "partition": p, "first": first, "last": last}
            for (t, p), (first, last) in sorted(covered.items())
        ]
    ).decode()


def _covered_of(text: str) -> LogRange:
    if not text:
        return {}
    return {
        (i["topic"], int(i["partition"])): (int(i["first"]), int(i["last"]))
        for i in orjson.loads(text)
    }


class ClickHouseShadowSink:
    """A :class:`~sinks.base.Sink` writing the facts projection into one slot's tables.

    Same rows, Arrow inserts and per-batch dedup tokens as :class:`ClickHouseSink`,
    so ``write`` is idempotent. ``flush`` keeps the watermark in memory only: a
    shadow is rebuilt whole or thrown away, and the live watermark is recorded at
    swap time. ``close`` does not close the shared client.
    """

    def __init__(self, client: Client, slot: str, projection: FactsProjection, name: str) -> None:
        self._client = client
        self._slot = slot
        self._projection = projection
        self._name = name
        self._pending: Watermark = {}
        self._flushed: Watermark = {}

    @property
    def name(self) -> str:
        return self._name

    def write(self, batch: Batch) -> None:
        """Insert ``batch``'s rows into the slot's tables. Raises ``SinkUnavailableError``."""
        if not batch:
            return
        version = self._projection.version
        signature = batch_signature(batch)
        for table, rows in self._projection.project(batch).items():
            if not len(rows):
                continue
            try:
                self._client.insert_arrow(
                    f"{table}{self._slot}",
                    to_arrow(rows),
                    settings={"insert_deduplication_token": f"{table}:v{version}:{signature}"},
                )
            except ClickHouseError as exc:
                raise SinkUnavailableError(
                    self._name, f"insert into {table}{self._slot} failed: {exc}"
                ) from exc
        self._pending = advance(self._pending, high_offsets(batch))

    def flush(self) -> None:
        """Inserts are synchronous: only the in-memory watermark moves."""
        self._flushed = advance(self._flushed, self._pending)
        self._pending = {}

    def watermark(self) -> Watermark:
        return dict(self._flushed)

    def close(self) -> None:
        """Nothing to release: the client belongs to the live sink."""


class ClickHouseGenerations:
    """:class:`~sinks.generations.Rebuildable` for the facts plane (module docstring).

    ``live`` is the open live sink; its client is used for everything, so build
    this in the process that owns the chDB directory. ``projection`` is the code a
    rebuild runs (a new version after a bug fix).
    """

    def __init__(self, live: ClickHouseSink, projection: FactsProjection | None = None) -> None:
        self._live = live
        self._projection = projection or FactsProjection()
        self._tables = tuple(TABLE_COLUMNS)
        self._command(_GENERATIONS_DDL)
        if not self.generations():
            self._record(0, GenerationStatus.LIVE, slot="", version=0, note="created by migrations")

    @property
    def projection_name(self) -> str:
        return self._live.name

    @property
    def projection(self) -> FactsProjection:
        return self._projection

    @property
    def client(self) -> Client:
        return self._live.client

    # --- records ---------------------------------------------------------------------

    def _rows(self) -> list[dict[str, Any]]:
        result = self._query(
            f"SELECT {', '.join(_COLUMNS)} FROM generations FINAL"
            " WHERE projection_name = {p:String} ORDER BY generation",
            {"p": self.projection_name},
        )
        return [dict(zip(_COLUMNS, row, strict=True)) for row in result]

    def _row(self, number: int) -> dict[str, Any]:
        for row in self._rows():
            if int(row["generation"]) == number:
                return row
        raise ConfigError(f"{self.projection_name}: no generation {number}")

    def generations(self) -> Sequence[Generation]:
        """Every recorded generation of this projection, oldest first."""
        return [
            Generation(
                projection=str(r["projection_name"]),
                number=int(r["generation"]),
                status=GenerationStatus(str(r["status"])),
                created_at_us=int(r["created_at"].timestamp() * 1_000_000),
                projection_version=int(r["projection_version"]),
                covered=_covered_of(str(r["covered"])),
                digest=str(r["digest"]),
                lineage=orjson.loads(r["lineage"]) if r["lineage"] else {},
            )
            for r in self._rows()
        ]

    def slot_of(self, number: int) -> str:
        """The table suffix holding generation ``number`` ('' when it is live)."""
        return str(self._row(number)["slot"])

    def _record(
        self,
        number: int,
        status: GenerationStatus,
        *,
        slot: str | None = None,
        version: int | None = None,
        covered: LogRange | None = None,
        digest: str | None = None,
        lineage: Mapping[str, Any] | None = None,
        note: str | None = None,
    ) -> None:
        try:
            old = self._row(number)
        except ConfigError:
            old = {
                "slot": "",
                "created_at": None,
                "projection_version": 0,
                "covered": "",
                "digest": "",
                "lineage": "",
                "note": "",
                "revision": 0,
            }
        now_us = time.time_ns() // 1000
        created = old["created_at"]
        row = [
            self.projection_name,
            number,
            status.value,
            old["slot"] if slot is None else slot,
            now_us if created is None else int(created.timestamp() * 1_000_000),
            old["projection_version"] if version is None else version,
            old["covered"] if covered is None else _covered_json(covered),
            old["digest"] if digest is None else digest,
            old["lineage"] if lineage is None else orjson.dumps(lineage).decode(),
            old["note"] if note is None else note,
            max(now_us, int(old["revision"]) + 1),
        ]
        self._insert_generation(row)

    def _insert_generation(self, row: list[Any]) -> None:
        row = list(row)
        row[4] = datetime.fromtimestamp(row[4] / 1_000_000, tz=UTC)
        try:
            self.client.insert("generations", [row], column_names=list(_COLUMNS))
        except ClickHouseError as exc:
            raise SinkUnavailableError(self.projection_name, f"generations: {exc}") from exc

    # --- the port ----------------------------------------------------------------------

    def allocate(self, projection_version: int) -> int:
        """Record generation N+1 ``building`` and create its empty shadow tables."""
        number = max((g.number for g in self.generations()), default=0) + 1
        slot = f"__g{number}"
        for table in self._tables:
            self._command(f"DROP TABLE IF EXISTS {table}{slot}")  # leftovers of a crash
            self._command(f"CREATE TABLE {table}{slot} AS {table}")
        self._record(number, GenerationStatus.BUILDING, slot=slot, version=projection_version)
        return number

    def open_shadow(self, number: int) -> ClickHouseShadowSink:
        """A sink writing into generation ``number``'s tables (not live)."""
        slot = self.slot_of(number)
        if not slot:
            raise ConfigError(f"generation {number} is live; shadows are never written live")
        return ClickHouseShadowSink(
            self.client, slot, self._projection, f"{self.projection_name}__g{number}"
        )

    def _slot(self, target: int | Literal["live"]) -> str:
        return "" if target == LIVE else self.slot_of(int(target))

    def _hash_expr(self, table: str) -> str:
        columns = [c for c in self._columns(table) if c not in DIGEST_EXCLUDED]
        return f"cityHash64(tuple({', '.join(f'`{c}`' for c in columns)}))"

    def _columns(self, table: str) -> list[str]:
        rows = self._query(
            "SELECT name FROM system.columns WHERE database = currentDatabase()"
            " AND table = {t:String} ORDER BY position",
            {"t": table},
        )
        return [str(r[0]) for r in rows]

    def _where(self, table: str, slot: str, covered: LogRange) -> str:
        if table == "proof_facts":
            return range_filter(covered)
        return (
            f"event_id IN (SELECT event_id FROM proof_facts{slot} FINAL"
            f" WHERE {range_filter(covered)})"
        )

    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest:
        """The digest of ``target`` restricted to ``covered`` (module docstring)."""
        slot = self._slot(target)
        parts: dict[str, str] = {}
        rows: dict[str, int] = {}
        for table in self._tables:
            result = self._query(
                f"SELECT count(), sum({self._hash_expr(table)}) FROM {table}{slot} FINAL"
                f" WHERE {self._where(table, slot, covered)}"
            )
            count, total = result[0]
            rows[table] = int(count)
            parts[table] = f"{int(count)}:{int(total or 0):016x}"
        combined = hashlib.sha256(
            "\n".join(f"{t}={parts[t]}" for t in sorted(parts)).encode()
        ).hexdigest()
        return Digest(value=combined, parts=parts, rows=rows)

    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]:
        """Rows added/removed/changed per table, keyed by ``event_id``, generation vs live."""
        slot = self.slot_of(number)
        out = []
        for table in self._tables:
            h = self._hash_expr(table)
            result = self._query(
                "SELECT countIf(l.h IS NULL), countIf(s.h IS NULL),"
                " countIf(l.h IS NOT NULL AND s.h IS NOT NULL AND l.h != s.h),"
                " groupArrayIf(5)(coalesce(l.k, s.k), l.h IS NULL OR s.h IS NULL OR l.h != s.h)"
                f" FROM (SELECT event_id AS k, {h} AS h FROM {table} FINAL"
                f"       WHERE {self._where(table, '', covered)}) AS l"
                f" FULL OUTER JOIN (SELECT event_id AS k, {h} AS h FROM {table}{slot} FINAL"
                f"       WHERE {self._where(table, slot, covered)}) AS s ON l.k = s.k"
                " SETTINGS join_use_nulls = 1"
            )
            added, removed, changed, sample = result[0]
            out.append(
                TableDiff(table, int(added), int(removed), int(changed), tuple(map(str, sample)))
            )
        return out

    def finish(
        self, number: int, covered: LogRange, digest: Digest, lineage: Mapping[str, Any]
    ) -> None:
        """Mark generation ``number`` built, with what it covers and its digest."""
        self._record(
            number, GenerationStatus.BUILT, covered=covered, digest=digest.value, lineage=lineage
        )

    def fail(self, number: int, reason: str) -> None:
        """Mark generation ``number`` failed (its tables stay until ``drop``)."""
        self._record(number, GenerationStatus.FAILED, note=reason[:2000])

    def swap(self, number: int) -> None:
        """Make built generation ``number`` live (see the module docstring).

        Afterwards the live watermark of this projection is at least the covered
        high offsets, so a live worker started later resumes after them.
        """
        row = self._row(number)
        if row["status"] != GenerationStatus.BUILT.value:
            raise ConfigError(
                f"generation {number} is {row['status']}; only a built generation can be swapped in"
            )
        slot = str(row["slot"])
        previous = [g for g in self.generations() if g.status is GenerationStatus.LIVE]
        pairs = ", ".join(f"{t} AND {t}{slot}" for t in self._tables)
        self._command(f"EXCHANGE TABLES {pairs}")
        for old in previous:
            self._record(old.number, GenerationStatus.OLD, slot=slot)
        self._record(number, GenerationStatus.LIVE, slot="")
        covered = _covered_of(str(row["covered"]))
        marks = {key: last for key, (_, last) in covered.items()}
        if marks:
            self._record_watermark(marks)

    def _record_watermark(self, marks: Watermark) -> None:
        items = sorted(marks.items())
        try:
            self.client.insert(
                "watermarks",
                [
                    [self.projection_name] * len(items),
                    [t for (t, _), _ in items],
                    [p for (_, p), _ in items],
                    [o for _, o in items],
                ],
                column_names=["projection_name", "topic", "partition", "offset"],
                column_oriented=True,
            )
        except ClickHouseError as exc:
            raise SinkUnavailableError(self.projection_name, f"watermark: {exc}") from exc

    def drop(self, number: int) -> None:
        """Drop generation ``number``'s tables. Refuses the live generation."""
        row = self._row(number)
        if row["status"] == GenerationStatus.LIVE.value or not row["slot"]:
            raise ConfigError(f"generation {number} is live and cannot be dropped")
        for table in self._tables:
            self._command(f"DROP TABLE IF EXISTS {table}{row['slot']}")
        self._record(number, GenerationStatus.DROPPED, slot="")

    # --- client helpers --------------------------------------------------------------

    def _command(self, sql: str) -> None:
        try:
            self.client.command(sql)
        except ClickHouseError as exc:
            raise SinkUnavailableError(self.projection_name, f"{sql[:80]}…: {exc}") from exc

    def _query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        try:
            return list(self.client.query(sql, parameters=parameters).result_rows)
        except ClickHouseError as exc:
            raise SinkUnavailableError(self.projection_name, f"{sql[:80]}…: {exc}") from exc
