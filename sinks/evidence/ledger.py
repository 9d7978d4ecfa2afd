"""The ledger: one transparency log in one directory, and its local index.

Layout of a log directory (the Chronicle root for generation 0, else
``<root>/generations/g<N>``)::

    checkpoint                  the latest signed checkpoint (C2SP signed note)
    checkpoints/<size>          every checkpoint the log published, write-once
    tile/<L>/<N>[.p/<W>]        Merkle tree hashes (C2SP tlog-tiles)
    tile/entries/<N>[.p/<W>]    the leaves' bytes
    ledger.db                   the local index and watermark (sinks.evidence.index)

Everything but ``ledger.db`` is the public log: serve the directory with any
static file server, mirror it by copying files, verify it with any C2SP verifier.

A flush (:meth:`Ledger.commit`) runs in this order, so a crash at any point is
finished, never contradicted, by the next open:

1. the new leaves are committed to ``ledger_entries`` with their leaf indexes
   (the write-ahead log of the tiles);
2. the tiles that changed are written: full tiles write-once and fsync'd, the
   partial ones of the right edge renamed into place without fsync;
3. a checkpoint over the new size is signed and written to ``checkpoints/<size>``
   (likewise without fsync) and then ``checkpoint`` (atomic replace, fsync'd);
4. the checkpoint record and the watermark are committed in one transaction.

So a flush that grew the log costs four fsyncs (two commits, the checkpoint and
its directory) plus two a full tile. What is not fsync'd is re-creatable: the
index is durable, and a partial tile or history copy is a function of it and of
the full tiles. On open, the right edge is rebuilt and rewritten when it does not
rebuild the published root, history copies are rewritten from the index, and
leaves committed in step 1 but not yet in a checkpoint are published (steps 2 to
4). A shadow generation *stages* its leaves instead and is sequenced once, at
swap time (:meth:`Ledger.seal`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from schemas.durable import atomic_write
from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import Watermark
from sinks.evidence.errors import LedgerIntegrityError
from sinks.evidence.index import FORMAT, CheckpointRecord, LedgerDb, LedgerIndex
from sinks.evidence.legacy import needs_migration, read_legacy
from sinks.evidence.projection import LedgerLeaf
from sinks.evidence.signing import Checkpoint, LogKeys, open_checkpoint
from sinks.evidence.tiles import WIDTH, TileReader, TileWriter, write_recreatable
from sinks.evidence.tree import consistency_path, verify_consistency

__all__ = ["CHECKPOINT", "HISTORY", "INDEX", "Ledger", "positioned_entries"]

CHECKPOINT = "checkpoint"
HISTORY = "checkpoints"
INDEX = "ledger.db"


def _now_us() -> int:
    return time.time_ns() // 1000


class Ledger:
    """The log in ``directory`` (module docstring). One writer per directory, on one
    thread. Raises :class:`SinkUnavailableError` when files or SQLite fail,
    :class:`LedgerIntegrityError` when what is stored does not verify, and
    :class:`ConfigError` for a log of another origin.
    """

    def __init__(
        self,
        directory: Path,
        keys: LogKeys,
        *,
        name: str = "evidence",
        clock: Callable[[], int] = _now_us,
    ) -> None:
        self._dir = Path(directory)
        self._keys = keys
        self._origin = keys.signer.note_key.name
        self._name = name
        self._clock = clock
        self._db = LedgerDb(self._dir / INDEX, name)
        try:
            origin = self._db.meta("origin")
            if origin is not None and origin != self._origin:
                raise ConfigError(
                    f"{self._dir} is the log {origin!r}; the settings name {self._origin!r}"
                )
            published = self._published()
            self._tiles = self._open_tiles(published)
            if needs_migration(self._db):
                self._migrate()
            # event_id uniqueness, in memory: a SQLite index of random UUIDs would
            # make every flush dearer as the log grows (see sinks.evidence.index).
            # ~100 bytes a leaf: 10 MB for 100k evidence records.
            self._ids = set(self._db.all_event_ids())
            self._recover(published)
        except BaseException:
            self._db.close()
            raise

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def size(self) -> int:
        """Leaves published in the tiles (and covered by the latest checkpoint)."""
        return self._tiles.size

    def _published(self) -> Checkpoint | None:
        try:
            note = (self._dir / CHECKPOINT).read_bytes()
        except FileNotFoundError:
            return None
        return open_checkpoint(note, self._keys.trusted, self._origin)

    def _open_tiles(self, published: Checkpoint | None) -> TileWriter:
        """The tile writer at the published size. Partial tiles are not fsync'd (see
        :mod:`sinks.evidence.tiles`): when they do not rebuild the published root,
        the right edge is rebuilt from the index and the full tiles and written
        again; if that still does not match, a full tile was altered."""
        size = published.size if published else 0
        try:
            tiles = TileWriter(self._dir, size)
            if published is None or tiles.root() == published.root:
                return tiles
        except LedgerIntegrityError:
            pass  # a partial tile lost or torn by a crash
        assert published is not None  # size 0 has no partial tiles to lose
        start = size - size % WIDTH
        tail = [leaf.entry for leaf in self._db.sequenced(start)][: size - start]
        if len(tail) != size - start:
            raise LedgerIntegrityError(
                f"INDEX BEHIND THE LOG: {self._db.path} lacks leaves the checkpoint of size "
                f"{size} covers; restore the index or rebuild the plane"
            )
        tiles = TileWriter(self._dir, size, tail)
        if tiles.root() != published.root:
            raise LedgerIntegrityError(
                f"TAMPERED TILE: the tiles under {self._dir} do not rebuild the root of "
                f"the published checkpoint of size {size}"
            )
        try:
            tiles.rewrite_edge()
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"writing {self._dir}: {exc}") from exc
        return tiles

    # --- writing -----------------------------------------------------------------------

    def known(self, event_id: str) -> bool:
        """Whether ``event_id`` is already in the log (sequenced or staged)."""
        return event_id in self._ids

    def commit(self, leaves: Sequence[LedgerLeaf], marks: Mapping[tuple[str, int], int]) -> None:
        """Append ``leaves`` (those not in the log yet), publish them under a new
        checkpoint and record ``marks`` (module docstring, steps 1 to 4). Durable on
        return; safe to call again after a failure."""
        fresh = self._fresh(leaves)
        if fresh:
            self._db.write([self._db.sequence_sql(fresh, self._db.size())])
            self._ids.update(leaf.event_id for leaf in fresh)
        self._publish(marks)

    def stage(self, leaves: Sequence[LedgerLeaf], marks: Mapping[tuple[str, int], int]) -> None:
        """A shadow's flush: keep ``leaves`` unsequenced, record ``marks``, one transaction."""
        fresh = self._fresh(leaves)
        self._db.write([self._db.stage_sql(fresh), self._db.watermark_sql(self._name, marks)])
        self._ids.update(leaf.event_id for leaf in fresh)

    def _fresh(self, leaves: Sequence[LedgerLeaf]) -> list[LedgerLeaf]:
        seen: set[str] = set()
        fresh: list[LedgerLeaf] = []
        for leaf in leaves:
            if leaf.event_id not in self._ids and leaf.event_id not in seen:
                seen.add(leaf.event_id)
                fresh.append(leaf)
        return fresh

    @contextmanager
    def _writing_files(self) -> Iterator[None]:
        """Around tile and note writes: a failure leaves the files of the last
        published tree intact, so the in-memory right edge is read back from them
        (a retry then rewrites what is missing), and ``OSError`` becomes retryable."""
        before = self._tiles.size
        try:
            yield
        except BaseException as exc:
            self._tiles = TileWriter(self._dir, before)
            if isinstance(exc, OSError):
                raise SinkUnavailableError(self._name, f"writing {self._dir}: {exc}") from exc
            raise

    def _publish(self, marks: Mapping[tuple[str, int], int]) -> None:
        statements = []
        if self._db.size() > self._tiles.size:
            with self._writing_files():
                self._tiles.append([leaf.entry for leaf in self._db.sequenced(self._tiles.size)])
                statements.append(self._db.checkpoint_sql(self._sign(self._tiles.size)))
        if marks:
            statements.append(self._db.watermark_sql(self._name, marks))
        if statements:
            self._db.write(statements)

    def _sign(self, size: int, signed_at: int | None = None) -> CheckpointRecord:
        """Sign the checkpoint of the first ``size`` leaves and write it (history,
        then ``checkpoint`` when it is the newest)."""
        root = self._tiles.root(size)
        note = self._keys.signer.sign(Checkpoint(self._origin, size, root))
        self._write_note(size, note)
        at = self._clock() if signed_at is None else signed_at
        return CheckpointRecord(size, root.hex(), at, note)

    def _write_note(self, size: int, note: bytes) -> None:
        # the history copy is re-creatable from the index (not fsync'd, repaired on
        # open); ``checkpoint`` is what verifiers fetch: durable before the flush returns
        write_recreatable(self._dir / HISTORY / str(size), note)
        if size == self._tiles.size:
            atomic_write(self._dir / CHECKPOINT, note)

    def _recover(self, published: Checkpoint | None) -> None:
        """Finish a flush a crash interrupted, and record the format and origin."""
        size = published.size if published else 0
        if self._db.size() < size:
            raise LedgerIntegrityError(
                f"INDEX BEHIND THE LOG: {self._db.path} has {self._db.size()} leaves, the "
                f"published checkpoint {size}; restore the index or rebuild the plane"
            )
        statements = [
            (
                "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                [("format", FORMAT), ("origin", self._origin)],
            )
        ]
        records = self._db.checkpoints()
        with self._writing_files():
            for record in records:  # history copies a crash lost or tore
                write_recreatable(self._dir / HISTORY / str(record.size), record.note)
        recorded = {record.size for record in records}
        if published is not None and size not in recorded:  # crash before step 4
            note = (self._dir / CHECKPOINT).read_bytes()
            record = CheckpointRecord(size, published.root.hex(), self._clock(), note)
            statements.append(self._db.checkpoint_sql(record))
        self._db.write(statements)
        self._publish({})

    def _migrate(self) -> None:
        """Rewrite a pre-tlog store (pymerkle leaves, our old signed heads) as tiles and
        checkpoints, once; the legacy heads are re-signed as checkpoints of the same
        sizes and roots, with their original times. See :mod:`sinks.evidence.legacy`."""
        legacy = read_legacy(self._db, self._keys.trusted.public_key)
        if self._tiles.size not in {0, len(legacy.entries)}:
            raise LedgerIntegrityError(
                f"{self._dir} has {self._tiles.size} published leaves and a legacy ledger of "
                f"{len(legacy.entries)}"
            )
        records = []
        with self._writing_files():
            if not self._tiles.size:  # else an interrupted migration wrote them already
                self._tiles.append(legacy.entries)
            for size, root_hex, signed_at in legacy.heads:
                if self._tiles.root(size).hex() != root_hex:
                    raise LedgerIntegrityError(
                        f"REWRITTEN LEDGER: legacy head {size} does not rebuild"
                    )
                self._tiles.ensure_partials(size)
                records.append(self._sign(size, signed_at))
            if self._tiles.size and (not records or records[-1].size < self._tiles.size):
                records.append(self._sign(self._tiles.size))
        self._db.write([("INSERT OR REPLACE INTO meta VALUES ('format', ?)", [(FORMAT,)])])
        self._db.write([self._db.checkpoint_sql(record) for record in records])

    def seal(self, order: Mapping[str, int], history: Sequence[CheckpointRecord]) -> None:
        """Sequence a shadow's staged leaves and publish them as a log that extends
        ``history`` (live's checkpoints, oldest first), keeping them valid.

        Leaves live holds keep live's order (``order``: ``event_id`` → live leaf
        index); the others follow in log order. Every checkpoint of ``history``
        must verify and name a prefix of the new tree, else :class:`ConfigError`
        (swapping it in would rewrite signed history). They are copied (their
        partial tiles written), and a checkpoint over the whole tree is signed
        and checked consistent with the latest of them. Idempotent.
        """
        staged = self._db.staged()
        if staged:
            unknown = len(order)

            def rank(leaf: LedgerLeaf) -> tuple[int, str, int, int]:
                pos = leaf.position
                where = (pos.topic, pos.partition, pos.offset) if pos else ("", -1, -1)
                return (order.get(leaf.event_id, unknown), *where)

            staged.sort(key=rank)
            first = self._db.size()
            self._db.write(
                [self._db.sequence_sql(staged, first), ("DELETE FROM staged_entries", [()])]
            )
        if self._db.size() > self._tiles.size:
            with self._writing_files():
                self._tiles.append([leaf.entry for leaf in self._db.sequenced(self._tiles.size)])
        for record in history:
            checkpoint = open_checkpoint(record.note, self._keys.trusted, self._origin)
            if (
                checkpoint.size > self._tiles.size
                or self._tiles.root(checkpoint.size) != checkpoint.root
            ):
                raise ConfigError(
                    f"{self._dir} does not extend live's checkpoint of size {checkpoint.size}: "
                    "swapping it in would rewrite signed evidence history"
                )
            self._tiles.ensure_partials(checkpoint.size)
            self._write_note(checkpoint.size, record.note)
        records = list(history)
        latest = history[-1] if history else None
        if self._tiles.size and (latest is None or latest.size < self._tiles.size):
            records.append(self._sign(self._tiles.size))
            if latest is not None:
                self._check_extends(latest)
        self._db.write([self._db.checkpoint_sql(record) for record in records])

    def _check_extends(self, prior: CheckpointRecord) -> None:
        proof = consistency_path(self._tiles, prior.size, self._tiles.size)
        new_root = self._tiles.root()
        if not verify_consistency(
            prior.size, self._tiles.size, bytes.fromhex(prior.root_hex), new_root, proof
        ):
            raise LedgerIntegrityError(
                f"FORK: the new tree of size {self._tiles.size} is not consistent with the "
                f"checkpoint of size {prior.size}"
            )

    # --- reading -----------------------------------------------------------------------

    def root(self, size: int | None = None) -> bytes:
        """RFC 6962 root of the first ``size`` published leaves (all by default)."""
        return self._tiles.root(size)

    def latest(self) -> CheckpointRecord | None:
        """The newest published checkpoint, or None before the first."""
        records = self._db.checkpoints()
        return records[-1] if records else None

    def checkpoints(self) -> list[CheckpointRecord]:
        """Every published checkpoint, oldest first."""
        return self._db.checkpoints()

    def order(self) -> dict[str, int]:
        """``event_id`` → leaf index of every sequenced leaf."""
        return self._db.order()

    def event_ids(self) -> set[str]:
        """Every ``event_id`` in the log, sequenced or staged."""
        return self._db.event_ids()

    def watermark(self) -> Watermark:
        """The last flushed offset per ``(topic, partition)`` of this store's name."""
        return self._db.watermark(self._name)

    def close(self) -> None:
        """Close the index. Idempotent."""
        self._db.close()


def positioned_entries(directory: Path) -> Iterator[tuple[LedgerLeaf, bytes]]:
    """Every leaf of the log in ``directory`` that was read at a log coordinate, with
    its entry bytes: read back from the published bundles for published leaves
    (what the log says, not the index), rebuilt from the index for the others.
    Read-only: safe beside the store that writes the directory."""
    index = LedgerIndex(Path(directory) / INDEX)
    try:
        published = dict(TileReader(directory, _published_size(Path(directory))).entries())
        for leaf_index, leaf in index.positioned():
            # staged, or not published yet (a store from before the tlog, never opened
            # since): the entry as the index records it
            yield leaf, leaf.entry if leaf_index is None else published.get(leaf_index, leaf.entry)
    finally:
        index.close()


def _published_size(directory: Path) -> int:
    """The size the ``checkpoint`` file names (0 without one); not verified: the
    digest compares content, the verifiers check signatures."""
    try:
        return int((directory / CHECKPOINT).read_bytes().split(b"\n")[1])
    except (FileNotFoundError, IndexError, ValueError):
        return 0
