"""Generations of the ClickHouse facts plane: shadow tables, digests, atomic swap.

The :class:`~sinks.generations.Rebuildable` port for ClickHouse. A generation's
data lives in a **slot**: the live generation in the base tables (``runs``), any
other in shadow tables with the slot's suffix (``runs__g3``), all in the *same*
database (chDB opens one data directory per process, so a second directory or
a second client is not an option: this class shares the live sink's client).

- ``allocate`` creates ``<table>__g<N>`` for every facts table with
  ``CREATE TABLE … AS <table>`` (same columns, engine and settings as live);
  ``open_shadow`` is the live store class with that suffix: its own landing
  tables and views feed the shadow tables, and are dropped again when the
  generation is finished or failed (after a swap those names hold old data).
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

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from schemas.catalog import SchemaCatalog
from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import Watermark
from sinks.facts.digest import combined, covered_json, covered_of, diff_sql, digest_sql
from sinks.facts.migrate import forget_pipeline
from sinks.facts.store import ClickHouseStore
from sinks.facts.views import TABLE_COLUMNS
from sinks.generations import (
    LIVE,
    Digest,
    Generation,
    GenerationStatus,
    LogRange,
    TableDiff,
)

__all__ = ["ClickHouseGenerations"]

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


class ClickHouseGenerations:
    """:class:`~sinks.generations.Rebuildable` for the facts plane (module docstring).

    ``live`` is the open live sink; its client is used for everything, so build
    this in the process that owns the chDB directory. ``projection`` is the code a
    rebuild runs (a new version after a bug fix).
    """

    def __init__(self, live: ClickHouseStore, catalog: SchemaCatalog, version: int) -> None:
        self._live = live
        self._catalog = catalog
        self._version = version
        self._tables = tuple(TABLE_COLUMNS)
        self._command(_GENERATIONS_DDL)
        if not self.generations():
            self._record(0, GenerationStatus.LIVE, slot="", version=0, note="created by migrations")

    @property
    def projection_name(self) -> str:
        return self._live.name

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
                covered=covered_of(str(r["covered"])),
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
            old["covered"] if covered is None else covered_json(covered),
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
        """Record generation N+1 ``building`` and create its empty shadow tables.
        Raises ``ConfigError`` on a ClickHouse cluster (below)."""
        if self._live.cluster is not None:
            # the shadow tables, their swap (EXCHANGE TABLES) and drops are statements
            # of one server here: on a cluster they would rebuild one node's tables
            # behind Distributed ones that still read the others
            raise ConfigError(
                f"{self.projection_name}: rebuilding on the ClickHouse cluster"
                f" {self._live.cluster} is not supported; to rebuild, run a worker on a new"
                " clickhouse.database and group prefix: it reads the whole log"
            )
        number = max((g.number for g in self.generations()), default=0) + 1
        slot = f"__g{number}"
        forget_pipeline(self.client, slot)  # leftovers of a crash
        for table in self._tables:
            self._command(f"DROP TABLE IF EXISTS {table}{slot}")
            self._command(f"CREATE TABLE {table}{slot} AS {table}")
        self._record(number, GenerationStatus.BUILDING, slot=slot, version=projection_version)
        return number

    def open_shadow(self, number: int) -> ClickHouseStore:
        """The live store class writing into generation ``number``'s tables only."""
        slot = self.slot_of(number)
        if not slot:
            raise ConfigError(f"generation {number} is live; shadows are never written live")
        return ClickHouseStore(
            self.client,
            name=f"{self.projection_name}{slot}",
            suffix=slot,
            catalog=self._catalog,
            version=self._version,
            owns_client=False,
        )

    def _slot(self, target: int | Literal["live"]) -> str:
        return "" if target == LIVE else self.slot_of(int(target))

    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest:
        """The digest of ``target`` restricted to ``covered`` (module docstring)."""
        slot = self._slot(target)
        parts: dict[str, str] = {}
        rows: dict[str, int] = {}
        for table in self._tables:
            count, total = self._query(digest_sql(table, slot, covered))[0]
            rows[table] = int(count)
            parts[table] = f"{int(count)}:{int(total or 0):016x}"
        return Digest(value=combined(parts), parts=parts, rows=rows)

    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]:
        """Rows added/removed/changed per table, keyed by ``event_id``, generation vs live."""
        slot = self.slot_of(number)
        out = []
        for table in self._tables:
            result = self._query(diff_sql(table, slot, covered))
            added, removed, changed, sample = result[0]
            out.append(
                TableDiff(table, int(added), int(removed), int(changed), tuple(map(str, sample)))
            )
        return out

    def finish(
        self, number: int, covered: LogRange, digest: Digest, lineage: Mapping[str, Any]
    ) -> None:
        """Mark generation ``number`` built, with what it covers and its digest, and drop
        its ingest views: nothing writes into a built generation any more."""
        self._forget(number)
        self._record(
            number, GenerationStatus.BUILT, covered=covered, digest=digest.value, lineage=lineage
        )

    def fail(self, number: int, reason: str) -> None:
        """Mark generation ``number`` failed (its tables stay until ``drop``)."""
        self._forget(number)
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
        covered = covered_of(str(row["covered"]))
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

    def _forget(self, number: int) -> None:
        try:
            forget_pipeline(self.client, self.slot_of(number))
        except ClickHouseError as exc:
            raise SinkUnavailableError(
                self.projection_name, f"dropping ingest views: {exc}"
            ) from exc

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
