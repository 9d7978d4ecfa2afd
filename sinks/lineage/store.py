"""``OpenLineageStore``: the lineage plane's store, on openlineage-python transports.

It persists :class:`~sinks.lineage.events.LineageWrites` and nothing else: the
pure :class:`~sinks.lineage.projection.LineageProjection` made them. Its
``state.db`` (SQLite) holds what must carry across batches and restarts: the
dedupe keys already emitted, each agent run's job (the job its first event
named), the watermark and, for the file transport, the events file's committed
length.

Store contract (:mod:`sinks.base`), in steps:

1. ``write(writes, upto)`` drops events whose dedupe key was emitted before (in
   ``state.db`` or earlier in this checkpoint), names on each event the job its
   run was first seen with (a run new to the store takes the job of its first
   event here), converts the rest to the client's typed events (facet classes in
   :mod:`sinks.lineage.facets`) and emits them in order. The file transport
   stages the lines in memory; HTTP posts them now.
2. ``flush()`` emits this projection's own streaming run: a START once, then a
   RUNNING checkpoint event (job ``proofstream.<name>``, the offset ranges this
   checkpoint made durable as the ``proofstream_checkpoint`` facet, the Kafka
   topics as inputs; never a COMPLETE: a streaming job does not end) when some
   partition advanced. The staged lines are appended in one write and fsynced;
   then **one** transaction commits the new dedupe keys, the new runs' jobs, the
   watermark and the file's length.

So the events file only ever holds committed events: reopening cuts off lines
of a flush that crashed before its commit, and redelivery emits them again
(exactly once in the file). An HTTP backend may see an event twice after a crash
between a POST and the commit (at-least-once, as OpenLineage consumers expect).
``close()`` without ``flush()`` drops the staged lines with their keys.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from openlineage.client.transport.transport import Transport

from schemas.errors import SinkUnavailableError
from sinks.base import Watermark
from sinks.directories import live_dir
from sinks.lineage.events import LineageEvent, LineageWrites, checkpoint_event, processor_start
from sinks.lineage.facets import RunEvents
from sinks.lineage.naming import kafka_dataset
from sinks.lineage.settings import OpenLineageSettings
from sinks.lineage.transports import EventsFile, StagedFileTransport, emit, http_transport
from sinks.store import StoreBase

__all__ = ["EVENTS", "STATE", "OpenLineageStore", "live_events_file"]

EVENTS: Final = "events.ndjson"
"""The events file of a generation's directory (generation 0: the configured file)."""
STATE: Final = "state.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS emitted(key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watermarks(
    topic TEXT NOT NULL, partition INTEGER NOT NULL, log_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS events_file(path TEXT PRIMARY KEY, length INTEGER NOT NULL);
"""
_IN_CHUNK: Final = 500
"""Keys per ``IN (...)`` lookup: well under SQLite's bound-parameter limit."""


def live_events_file(settings: OpenLineageSettings, state_dir: Path) -> Path:
    """The events file of the live generation's file transport: the configured
    file until a replay swaps a generation in, then that generation's
    ``events.ndjson`` (what the demo and operators read)."""
    base = Path(state_dir).resolve() / "openlineage"
    home = live_dir(base)
    return settings.resolve_file(state_dir) if home == base else home / EVENTS


class OpenLineageStore(StoreBase[LineageWrites]):
    """The lineage store (see the module docstring for the contract).

    ``transport`` is any openlineage-python transport; a
    :class:`~sinks.lineage.transports.StagedFileTransport` is appended to its
    file at flush. ``state_dir`` holds ``state.db``. ``clock`` gives the event
    time (epoch microseconds) of the checkpoint events.
    """

    def __init__(
        self,
        state_dir: Path,
        transport: Transport,
        *,
        name: str = "lineage",
        kafka_bootstrap: str = "127.0.0.1:9092",
        processor_namespace: str = "proofstream",
        clock: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(name)
        self._transport = transport
        self._bootstrap = kafka_bootstrap
        self._namespace = processor_namespace
        self._clock = clock or (lambda: time.time_ns() // 1000)
        self._run_events = RunEvents()
        # this checkpoint's state, committed by the next flush
        self._keys: set[str] = set()
        self._runs: dict[str, tuple[str, str]] = {}
        self._first: Watermark = {}
        self._staged = transport if isinstance(transport, StagedFileTransport) else None
        con: sqlite3.Connection | None = None
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            con = self._con = sqlite3.connect(state_dir / STATE)
            # WAL: a commit is one fsync of the log instead of a rollback journal's
            # three; FULL keeps every commit durable (the offsets follow it)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.executescript(_SCHEMA)
            self._file = self._open_file()
        except (OSError, sqlite3.Error) as exc:
            if con is not None:
                con.close()
            transport.close(timeout=0.0)
            raise SinkUnavailableError(name, f"cannot open lineage state: {exc}") from exc

    @classmethod
    def open(
        cls,
        settings: OpenLineageSettings,
        state_dir: Path,
        *,
        kafka_bootstrap: str = "127.0.0.1:9092",
        clock: Callable[[], int] | None = None,
    ) -> OpenLineageStore:
        """Open the live store on the transport ``settings`` choose (file by default).

        ``state.db`` (and, for the file transport, the events file) are the live
        generation's: ``<state_dir>/openlineage`` and the configured file, or,
        once a replay swapped a generation in, ``state.db`` and ``events.ndjson``
        in that generation's directory (:func:`sinks.directories.live_dir`).
        """
        home = live_dir(Path(state_dir).resolve() / "openlineage")
        transport: Transport
        if settings.url:
            transport = http_transport(settings)
        else:
            transport = StagedFileTransport(live_events_file(settings, state_dir))
        return cls(
            home,
            transport,
            kafka_bootstrap=kafka_bootstrap,
            processor_namespace=settings.processor_namespace,
            clock=clock,
        )

    @property
    def events_file(self) -> Path | None:
        """The NDJSON file of the file transport (None for HTTP)."""
        return None if self._file is None else self._file.path

    @property
    def processor_namespace(self) -> str:
        """The job namespace of the store's own streaming run (its checkpoints)."""
        return self._namespace

    # --- StoreBase hooks -------------------------------------------------------------

    def _apply(self, writes: LineageWrites) -> None:
        """Emit the events of ``writes`` not emitted before (step 1)."""
        for key, offset in writes.first.items():
            if offset < self._first.get(key, offset + 1):
                self._first[key] = offset
        fresh = self._fresh(writes.events)
        if not fresh:
            return
        jobs = self._jobs_of({e.run_id for e in fresh})
        for event in fresh:
            job = jobs.get(event.run_id)
            if job is None:  # the run's first event: its job is the run's from now on
                job = jobs[event.run_id] = self._runs[event.run_id] = (
                    event.job_namespace,
                    event.job_name,
                )
            self._emit(event, job)

    def _persist(self, marks: Watermark) -> None:
        """Emit the checkpoint, make the events durable, commit (step 2)."""
        previous = self._load_watermark()
        advanced = {k: o for k, o in marks.items() if o > previous.get(k, -1)}
        if advanced:
            for event in self._fresh(self._checkpoint(previous, advanced)):
                self._emit(event, (event.job_namespace, event.job_name))
        length = self._append()
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR IGNORE INTO emitted VALUES (?)", [(k,) for k in self._keys]
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO runs VALUES (?, ?, ?)",
                    [(run, ns, job) for run, (ns, job) in self._runs.items()],
                )
                self._db.executemany(
                    "INSERT INTO watermarks VALUES (?, ?, ?) ON CONFLICT(topic, partition)"
                    " DO UPDATE SET log_offset = max(log_offset, excluded.log_offset)",
                    [(t, p, o) for (t, p), o in sorted(advanced.items())],
                )
                if self._file is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO events_file VALUES (?, ?)",
                        (str(self._file.path), length),
                    )
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self.name, f"lineage state commit failed: {exc}") from exc
        self._keys.clear()
        self._runs.clear()
        self._first = {}

    def _load_watermark(self) -> Watermark:
        rows = self._query("SELECT topic, partition, log_offset FROM watermarks", ())
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def _release(self) -> None:
        try:
            self._transport.close(timeout=5.0)
        finally:
            if self._file is not None:
                self._file.close()
            self._con.close()

    # --- helpers ---------------------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        self._check_open()
        return self._con

    def _open_file(self) -> EventsFile | None:
        if self._staged is None:
            return None
        events = EventsFile(self._staged.path)
        row = self._con.execute(
            "SELECT length FROM events_file WHERE path = ?", (str(events.path),)
        ).fetchone()
        if row is not None:  # lines past it belong to a flush that never committed
            events.cut(int(row[0]))
        return events

    def _query(self, sql: str, params: Sequence[str]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self.name, f"lineage state read failed: {exc}") from exc

    def _select_in(self, sql: str, values: Collection[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (ending in ``IN``) for ``values``, in chunks."""
        ordered = sorted(values)
        for start in range(0, len(ordered), _IN_CHUNK):
            chunk = ordered[start : start + _IN_CHUNK]
            yield from self._query(f"{sql} ({','.join('?' * len(chunk))})", chunk)

    def _fresh(self, events: Sequence[LineageEvent]) -> list[LineageEvent]:
        """``events`` whose key was never emitted, first of each key, in order."""
        keys = {e.key for e in events}
        seen = keys & self._keys
        seen.update(
            str(r[0]) for r in self._select_in("SELECT key FROM emitted WHERE key IN", keys)
        )
        fresh = []
        for event in events:
            if event.key not in seen:
                seen.add(event.key)
                fresh.append(event)
        return fresh

    def _jobs_of(self, run_ids: Collection[str]) -> dict[str, tuple[str, str]]:
        """The job each known run of ``run_ids`` was first seen with."""
        jobs = {run: self._runs[run] for run in run_ids if run in self._runs}
        unknown = [run for run in run_ids if run not in jobs]
        rows = self._select_in("SELECT run_id, namespace, name FROM runs WHERE run_id IN", unknown)
        for run, namespace, name in rows:
            jobs[str(run)] = (str(namespace), str(name))
        return jobs

    def _emit(self, event: LineageEvent, job: tuple[str, str]) -> None:
        emit(self.name, self._transport, self._run_events(event, *job))
        self._keys.add(event.key)

    def _checkpoint(self, previous: Watermark, advanced: Watermark) -> list[LineageEvent]:
        """The streaming run's START (deduped to once) and this checkpoint's RUNNING
        event: per advanced partition, the offsets after the previous watermark (or
        from the first offset read, on a partition new to the store) up to the new."""
        job = f"proofstream.{self.name}"
        inputs = [kafka_dataset(self._bootstrap, t) for t in sorted({t for t, _ in advanced})]
        ranges = {
            key: (previous[key] + 1 if key in previous else self._first.get(key, high), high)
            for key, high in advanced.items()
        }
        now = self._clock()
        return [
            processor_start(self._namespace, job, inputs, now),
            checkpoint_event(self._namespace, job, ranges, inputs=inputs, event_time_us=now),
        ]

    def _append(self) -> int:
        """Append the staged lines durably (then forget them); the file's length."""
        if self._file is None or self._staged is None:
            return 0
        try:
            length = self._file.append(self._staged.staged)
        except OSError as exc:
            raise SinkUnavailableError(self.name, f"lineage events write failed: {exc}") from exc
        self._staged.clear()
        return length
