"""``DataHubStore``: the catalog plane's store, DataHub Lite on disk (+ optional GMS).

The impure half of the catalog plane (the pure half is
:class:`sinks.catalog.projection.CatalogProjection`).

- **embedded** (always): DataHub Lite's SQLite store, ``<state_dir>/datahub/lite.sqlite``
  by default, opened by :func:`~sinks.catalog.lite.open_lite` (WAL mode, so that
  readers, ``proofstream catalog export`` or ``datahub lite`` itself, never block the
  worker).
- **GMS** (``DataHubSettings.gms_url``): every changed aspect is also sent with
  DataHub's ``DatahubRestEmitter``, synchronously, *before* it is committed locally,
  so a failed send is retried with the batch. Shadow generations never send.

**Writes.** ``write(proposals, upto)`` writes only the aspects whose content changed,
in one transaction per batch, in DataHub Lite's own format (what Lite's ``write()``
would leave, minus its per-aspect commits and reads). It builds each proposal's MCP
with DataHub's classes when its turn comes, converts it to the JSON Lite stores
(:mod:`sinks.catalog.aspect_json`) and drops it once its rows are made (it keeps it
only to send it to GMS), so a batch never holds all its aspects at once. A new
aspect gets rows ``version 1`` and ``version 0`` (the latest), a changed one a row
``version N+1`` and an updated ``version 0``; the system metadata carries Lite's
``sysVersion`` and, under :data:`HASH_PROPERTY`, the BLAKE2b-128 of the aspect's
JSON. That **content hash** is what the next write compares with (read for a whole
batch in one query over Lite's own index): an equal aspect is skipped, so a replayed
or re-delivered batch writes nothing, and the hash lives in the row it describes, so
it survives restarts and can never disagree with it. A row another writer left
without a hash (``datahub lite`` itself, or a store written before hashes) is
compared by the hash of its stored JSON.

Every aspect that is written is validated first, with ``mcp.validate()``'s verdict
(compiled once per schema: :mod:`sinks.catalog.validation`); an aspect that fails
validation (or makes it raise) or does not serialize is a :class:`PermanentError` (a
projection bug: the batch is narrowed down and its events dead-lettered). SQLite
and GMS failures are :class:`SinkUnavailableError` (retried with the batch).

**Flush.** The watermark is a table in the same file, committed after the data
with ``synchronous=FULL`` (one fsync of the WAL, which holds every earlier commit
too): it can never survive a crash without the aspects it covers.

**Browse index.** Lite's ``close()`` rebuilds its browse index (``metadata_edge_v2``,
what ``datahub lite ls`` walks) from every aspect in the store: minutes at a few
hundred thousand aspects, on every worker stop. The store closes the connection
without it; :func:`~sinks.catalog.lite.reindex` (``proofstream catalog reindex``, or
DataHub's own ``datahub lite reindex``) runs Lite's rebuild on demand. Nothing else reads that
index (``get``, ``search``, ``list_ids``, ``get_all_aspects`` and the export do not).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from datahub.lite.sqlite_lite import SqliteLite
from datahub.metadata.schema_classes import SystemMetadataClass

from schemas.errors import PermanentError, SinkUnavailableError
from sinks.base import Watermark
from sinks.catalog.aspect_json import aspect_json
from sinks.catalog.context import Mcp, Proposal
from sinks.catalog.lite import open_lite, reindex
from sinks.catalog.validation import valid_mcp
from sinks.store import StoreBase

# open_lite and reindex stay importable from here, where their callers found them
__all__ = ["HASH_PROPERTY", "DataHubStore", "Emitter", "content_hash", "open_lite", "reindex"]

HASH_PROPERTY: Final = "proofstream.contentHash"
"""The ``systemMetadata.properties`` key of an aspect's content hash."""

_WATERMARKS: Final = "proofstream_watermarks"
_CHUNK: Final = 2_000
"""Keys per lookup query (two SQL variables each, far below SQLite's limit)."""

_INSERT = "INSERT INTO metadata_aspect_v2 VALUES (?, ?, ?, ?, ?, ?)"
_UPDATE = (
    "UPDATE metadata_aspect_v2 SET metadata = ?, system_metadata = ?"
    " WHERE urn = ? AND aspect_name = ? AND version = 0"
)


class Emitter(Protocol):
    """What the store needs of DataHub's ``DatahubRestEmitter``."""

    def emit_mcps(self, mcps: list[Any]) -> Any: ...

    def close(self) -> None: ...


def content_hash(text: str) -> str:
    """The content hash of an aspect's stored JSON: BLAKE2b-128, hex. Pure."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _system_metadata_head(now_ms: int) -> str:
    # Lite's system metadata is SystemMetadataClass(lastObserved=now).to_obj() plus
    # properties; everything before "properties" is the same for the whole batch.
    base = dict(SystemMetadataClass(lastObserved=now_ms, properties={}).to_obj())
    del base["properties"]
    return json.dumps(base)[:-1] + ', "properties": '


class DataHubStore(StoreBase[Sequence[Proposal]]):
    """The catalog plane's store (module docstring). Build it with :meth:`open`."""

    def __init__(self, lite: SqliteLite, *, name: str = "catalog", emitter: Emitter | None = None):
        super().__init__(name)
        self._lite = lite
        self._db: sqlite3.Connection = lite.sqlite_client
        self._emitter = emitter
        self.written = 0
        """Aspects this store wrote (new or changed ones only)."""
        try:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {_WATERMARKS} (store TEXT, topic TEXT,"
                " partition INTEGER, offset INTEGER, PRIMARY KEY (store, topic, partition))"
            )
            self._db.commit()
            self._adopt_legacy_watermark(Path(lite.location()))
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise SinkUnavailableError(name, f"cannot prepare the store: {exc}") from exc

    def _adopt_legacy_watermark(self, lite_file: Path) -> None:
        # Stores written before the watermark moved into the database kept it in
        # watermarks.<name>.json beside it: take it over once, so the worker resumes
        # where it stopped instead of re-reading the whole log.
        legacy = lite_file.with_name(f"watermarks.{self.name}.json")
        if not legacy.exists() or self._load_watermark():
            return
        marks = {(str(t), int(p)): int(o) for t, p, o in json.loads(legacy.read_text("utf-8"))}
        self._persist(marks)
        legacy.unlink()

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        name: str = "catalog",
        emitter: Emitter | None = None,
        seed: Sequence[Proposal] = (),
    ) -> DataHubStore:
        """Open (or create) the Lite store at ``path`` and write ``seed`` (the platform's
        own entities) like any batch: unchanged aspects are skipped. Closes what it
        opened when that fails."""
        try:
            lite = open_lite(path)
        except BaseException:
            if emitter is not None:
                emitter.close()
            raise
        try:
            store = cls(lite, name=name, emitter=emitter)
        except BaseException:
            lite.sqlite_client.close()
            if emitter is not None:
                emitter.close()
            raise
        try:
            store.write_aspects(seed)
        except BaseException:
            store.close()
            raise
        return store

    @property
    def lite(self) -> SqliteLite:
        """The open Lite store, for DataHub's own reads (``get``, ``search``,
        ``list_ids``, ``get_all_aspects``). Raises after close."""
        self._check_open()
        return self._lite

    def write_aspects(self, proposals: Sequence[Proposal]) -> int:
        """Write the aspects of ``proposals`` that changed, in one transaction; the last
        proposal per ``(urn, aspect)`` wins. Returns how many were written. Idempotent.

        Each aspect is built when its turn comes and dropped once its row is made (kept
        only to be sent to GMS): the batch never holds all its aspects at once."""
        self._check_open()
        latest = {(p.urn, p.aspect_name): p for p in proposals}
        if not latest:
            return 0
        stored = self._stored(list(latest))
        now = int(time.time() * 1000)
        head = _system_metadata_head(now)
        rows: list[tuple[str, str, int, str, str, int]] = []
        updates: list[tuple[str, str, str, str]] = []
        sent: list[Mcp] = []
        emitting = self._emitter is not None
        for key, proposal in latest.items():
            mcp = _build(key, proposal, self.name)
            text = _aspect_json(key, mcp, self.name)
            digest = content_hash(text)
            known = stored.get(key)
            if known is not None and known[0] == digest:
                continue
            _validate(key, mcp, self.name)
            if emitting:
                sent.append(mcp)
            urn, name = key
            version = 1 if known is None else known[1] + 1
            system = f'{head}{{"sysVersion": "{version}", "{HASH_PROPERTY}": "{digest}"}}}}'
            rows.append((urn, name, version, text, system, now))
            if known is None:
                rows.append((urn, name, 0, text, system, now))
            else:
                updates.append((text, system, urn, name))
        written = (len(rows) + len(updates)) // 2  # new: two rows; changed: a row, an update
        if not written:
            return 0
        if self._emitter is not None:
            try:
                self._emitter.emit_mcps(sent)
            except Exception as exc:  # requests' and DataHub's own errors
                raise SinkUnavailableError(self.name, f"DataHub GMS: {exc}") from exc
        self._commit_rows(rows, updates)
        self.written += written
        return written

    def _stored(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, int]]:
        """``(content hash, version)`` of the stored latest version of each of ``keys``
        that exists: one query per chunk, over Lite's own ``(urn, aspect, version)``
        index."""
        found: dict[tuple[str, str], tuple[str, int]] = {}
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                values = ",".join(["(?,?)"] * len(chunk))
                params = [part for key in chunk for part in key]
                for urn, name, digest, version, metadata in self._db.execute(
                    _LOOKUP.format(values=values), params
                ):
                    found[(urn, name)] = (digest or content_hash(metadata), int(version))
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self.name, f"reading stored aspects: {exc}") from exc
        return found

    def _commit_rows(
        self,
        rows: list[tuple[str, str, int, str, str, int]],
        updates: list[tuple[str, str, str, str]],
    ) -> None:
        """Insert ``rows`` (new versions, and version 0 of new aspects) and update the
        version 0 of changed ones, in one transaction."""
        rows.sort()  # index order ((urn, aspect, version) is unique): fewer page visits
        try:
            self._db.executemany(_INSERT, rows)
            if updates:
                self._db.executemany(_UPDATE, updates)
            self._db.commit()
        except sqlite3.Error as exc:
            self._db.rollback()
            raise SinkUnavailableError(self.name, f"writing aspects: {exc}") from exc

    # --- StoreBase hooks -----------------------------------------------------------------

    def _apply(self, writes: Sequence[Proposal]) -> None:
        self.write_aspects(writes)

    def _persist(self, marks: Watermark) -> None:
        rows = [(self.name, t, p, o) for (t, p), o in sorted(marks.items())]
        db = self._db
        try:
            db.execute("PRAGMA synchronous = FULL")  # this commit syncs the WAL: durable
            db.executemany(f"INSERT OR REPLACE INTO {_WATERMARKS} VALUES (?, ?, ?, ?)", rows)
            db.commit()
        except sqlite3.Error as exc:
            db.rollback()
            raise SinkUnavailableError(self.name, f"recording the watermark: {exc}") from exc
        finally:
            with contextlib.suppress(sqlite3.Error):  # left at FULL: slower, still safe
                db.execute("PRAGMA synchronous = NORMAL")

    def _load_watermark(self) -> Watermark:
        try:
            rows = self._db.execute(
                f"SELECT topic, partition, offset FROM {_WATERMARKS} WHERE store = ?", (self.name,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self.name, f"reading the watermark: {exc}") from exc
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def _release(self) -> None:
        emitter, self._emitter = self._emitter, None
        try:
            self._db.close()  # not Lite's close(): see "Browse index" in the module docstring
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self.name, f"closing DataHub Lite: {exc}") from exc
        finally:
            if emitter is not None:
                emitter.close()


_LOOKUP = (
    "SELECT m.urn, m.aspect_name,"
    f" json_extract(m.system_metadata, '$.properties.\"{HASH_PROPERTY}\"') AS digest,"
    " COALESCE(json_extract(m.system_metadata, '$.properties.sysVersion'),"
    "  (SELECT max(v.version) FROM metadata_aspect_v2 AS v"
    "   WHERE v.urn = m.urn AND v.aspect_name = m.aspect_name)),"
    f" CASE WHEN json_extract(m.system_metadata, '$.properties.\"{HASH_PROPERTY}\"') IS NULL"
    "  THEN m.metadata END"
    " FROM (VALUES {values}) AS k CROSS JOIN metadata_aspect_v2 AS m"
    " ON m.urn = k.column1 AND m.aspect_name = k.column2 AND m.version = 0"
)
"""The stored hash and version of the latest version of each key (``VALUES`` joined
to Lite's ``aspect_idx``); the JSON itself only where no hash was recorded."""


def _validate(key: tuple[str, str], mcp: Mcp, store: str) -> None:
    """``mcp.validate()``'s verdict (:func:`valid_mcp`, compiled); an invalid MCP, or one
    whose validation raises, is a :class:`PermanentError`."""
    try:
        valid = valid_mcp(mcp)
    except Exception as exc:  # what DataHub's validation raises on a malformed aspect
        raise PermanentError(f"{store}: invalid MCP for {key[0]} {key[1]}: {exc!r}") from exc
    if not valid:
        raise PermanentError(f"{store}: invalid MCP for {key[0]} {key[1]}")


def _build(key: tuple[str, str], proposal: Proposal, store: str) -> Mcp:
    """The proposal's MCP, built with DataHub's classes; one that cannot be built, or
    that names another aspect than its key, is a :class:`PermanentError`."""
    try:
        mcp = proposal.mcp()
    except Exception as exc:  # whatever DataHub's constructors raise on bad values
        raise PermanentError(f"{store}: {key[1]} of {key[0]} cannot be built: {exc}") from exc
    if mcp.aspectName != key[1]:
        raise PermanentError(f"{store}: {key[1]} of {key[0]} builds a {mcp.aspectName}")
    return mcp


def _aspect_json(key: tuple[str, str], mcp: Mcp, store: str) -> str:
    """The aspect's JSON exactly as Lite stores it (:func:`aspect_json`). An aspect that
    does not even convert is a :class:`PermanentError`."""
    if mcp.aspect is None:
        raise PermanentError(f"{store}: MCP without an aspect for {key[0]}")
    try:
        return aspect_json(mcp.aspect)
    except Exception as exc:  # whatever a malformed aspect makes the conversion raise
        raise PermanentError(f"{store}: {key[1]} of {key[0]} does not serialize: {exc}") from exc
