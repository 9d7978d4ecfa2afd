"""The log as static files: C2SP ``tlog-tiles`` (https://c2sp.org/tlog-tiles).

Under a log directory (the Chronicle root for generation 0)::

    tile/<L>/<N>[.p/<W>]        Merkle tree hashes: 256 consecutive hashes at level L
    tile/entries/<N>[.p/<W>]    entry bundles: the leaves' bytes, uint16-BE length-prefixed

``<N>`` is written in 3-digit groups, all but the last prefixed ``x``
(``1234067`` → ``x001/x234/067``). A full tile holds 256 hashes (8,192 bytes); at
level 0 they are leaf hashes, at level L+1 each is the root of a full tile of
level L. A partial tile ``.p/W`` (1 ≤ W ≤ 255) is the right edge of the tree at
some checkpoint: for a tree of size ``s`` the partial tile of level L has
``(s >> 8L) & 255`` hashes.

A **full** tile (and its bundle) is written once, durably (fsync'd before the
checkpoint that needs it), and never rewritten with other bytes
(:class:`LedgerIntegrityError` instead — that would be a fork). A **partial**
tile is re-creatable: it is a function of the durable index and the full tiles,
so it is written without fsync (two fewer fsyncs a file on every flush) and the
ledger rewrites it on open if a crash lost or tore it. Partial tiles of a tile
are deleted once the full tile is written (the spec allows it; readers fall back
to the full tile, truncated).

:class:`TileWriter` keeps the right edge in memory (at most 255 hashes per level
and 255 entries), so appending costs the same at 10k and at 10M leaves and a flush
writes only the tiles that changed. :class:`TileReader` reads a tree of a given
size back, for proofs, and is the :class:`~sinks.evidence.tree.HashSource` the
verifiers use.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

from schemas.durable import atomic_write
from sinks.evidence.errors import LedgerIntegrityError
from sinks.evidence.tree import EMPTY_ROOT, leaf_hash, range_hash, root_of

__all__ = [
    "HASH",
    "WIDTH",
    "TileReader",
    "TileWriter",
    "decode_bundle",
    "encode_bundle",
    "tile_path",
    "write_recreatable",
]

WIDTH = 256
"""Hashes in a full tile (tile height 8)."""
HASH = 32
_MAX_ENTRY = 0xFFFF


def _index_path(n: int) -> str:
    groups = [f"{n % 1000:03d}"]
    while n >= 1000:
        n //= 1000
        groups.append(f"x{n % 1000:03d}")
    return "/".join(reversed(groups))


def tile_path(level: int | str, index: int, width: int = WIDTH) -> str:
    """The C2SP path of a tile (``level`` 0..63, or ``"entries"`` for a bundle). Pure."""
    base = f"tile/{level}/{_index_path(index)}"
    return base if width == WIDTH else f"{base}.p/{width}"


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries as a bundle: each prefixed with its length (uint16, big-endian). Pure."""
    out = bytearray()
    for entry in entries:
        if len(entry) > _MAX_ENTRY:
            raise LedgerIntegrityError(f"a log entry of {len(entry)} bytes exceeds 65,535")
        out += struct.pack(">H", len(entry))
        out += entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; :class:`LedgerIntegrityError` if it is truncated. Pure."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise LedgerIntegrityError("TAMPERED ENTRY BUNDLE: truncated length prefix")
        (size,) = struct.unpack_from(">H", data, pos)
        if pos + 2 + size > len(data):
            raise LedgerIntegrityError("TAMPERED ENTRY BUNDLE: truncated entry")
        entries.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return entries


def write_recreatable(path: Path, data: bytes) -> None:
    """Write a file the ledger can always write again from its durable index (a
    partial tile, a history note): renamed into place whole, but not fsync'd, and
    replaced when a crash left other bytes. Saves two fsyncs a file on every flush;
    the ledger repairs such files when it opens (:mod:`sinks.evidence.ledger`)."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_once(root: Path, relative: str, data: bytes) -> None:
    """Write an immutable file durably; identical bytes already there are a no-op."""
    path = root / relative
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        atomic_write(path, data)
        return
    if existing != data:
        raise LedgerIntegrityError(
            f"FORK: {relative} already holds other bytes; a published tile is never rewritten"
        )


def _root_of_tile(data: bytes) -> bytes:
    return root_of([data[i : i + HASH] for i in range(0, len(data), HASH)])


class TileReader:
    """The tree of ``size`` leaves under ``root``, read from its tiles (cached).

    Hashes are only as good as the files: a proof built from them is checked
    against a signed checkpoint's root, which is what makes them trustworthy.
    Raises :class:`LedgerIntegrityError` when a tile the tree needs is missing or
    short.
    """

    def __init__(self, root: Path, size: int) -> None:
        self._root = Path(root)
        self._size = size
        self._cache: dict[tuple[int | str, int], bytes] = {}

    @property
    def size(self) -> int:
        return self._size

    def width(self, level: int, index: int) -> int:
        """How many hashes tile ``index`` of ``level`` holds in this tree (0: none)."""
        return max(0, min(WIDTH, (self._size >> (8 * level)) - index * WIDTH))

    def _read(self, level: int | str, index: int, width: int) -> bytes:
        """Tile bytes of exactly ``width`` items: the partial file of that width, else
        the full tile or a wider partial, cut to the prefix this tree covers."""
        key = (level, index)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        candidates = [self._root / tile_path(level, index, width)]
        if width < WIDTH:
            candidates.append(self._root / tile_path(level, index))
            wider = self._root / f"{tile_path(level, index)}.p"
            if wider.is_dir():
                candidates += sorted(
                    (p for p in wider.iterdir() if p.name.isdigit() and int(p.name) > width),
                    key=lambda p: int(p.name),
                )
        for path in candidates:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            data = self._prefix(level, data, width, path)
            self._cache[key] = data
            return data
        raise LedgerIntegrityError(
            f"MISSING TILE: {tile_path(level, index, width)} (tree size {self._size})"
        )

    @staticmethod
    def _prefix(level: int | str, data: bytes, width: int, path: Path) -> bytes:
        if level == "entries":
            entries = decode_bundle(data)
            if len(entries) < width:
                raise LedgerIntegrityError(f"TAMPERED ENTRY BUNDLE: {path} is short")
            return encode_bundle(entries[:width])
        if len(data) < width * HASH or len(data) % HASH:
            raise LedgerIntegrityError(f"TAMPERED TILE: {path} has {len(data)} bytes")
        return data[: width * HASH]

    def hashes(self, level: int, index: int) -> bytes:
        """The hashes of tile ``index`` at ``level`` as this tree has them."""
        width = self.width(level, index)
        if width == 0:
            raise LedgerIntegrityError(f"tile {level}/{index} is beyond tree size {self._size}")
        return self._read(level, index, width)

    def subtree(self, level: int, index: int) -> bytes:
        """:class:`~sinks.evidence.tree.HashSource`: from the tile holding the
        ``2**(level % 8)`` hashes at tile level ``level // 8`` that span it."""
        tile_level, rest = divmod(level, 8)
        first = index << rest
        data = self.hashes(tile_level, first // WIDTH)
        offset = first % WIDTH
        if offset + (1 << rest) > len(data) // HASH:
            raise LedgerIntegrityError(f"subtree {level}/{index} is beyond tree size {self._size}")
        items = [data[i * HASH : (i + 1) * HASH] for i in range(offset, offset + (1 << rest))]
        return items[0] if rest == 0 else root_of(items)

    def root(self) -> bytes:
        """The tree's root, recomputed from its tiles."""
        return range_hash(self, 0, self._size) if self._size else EMPTY_ROOT

    def bundle(self, index: int) -> list[bytes]:
        """The entries of bundle ``index`` as this tree has them."""
        width = self.width(0, index)
        if width == 0:
            raise LedgerIntegrityError(f"bundle {index} is beyond tree size {self._size}")
        return decode_bundle(self._read("entries", index, width))

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(leaf index, entry bytes)`` for leaves ``[start, end)`` from the bundles."""
        end = self._size if end is None else min(end, self._size)
        for bundle in range(start // WIDTH, (end + WIDTH - 1) // WIDTH):
            for offset, entry in enumerate(self.bundle(bundle)):
                index = bundle * WIDTH + offset
                if start <= index < end:
                    yield index, entry


class TileWriter:
    """Appends entries to the tiles under ``root``, starting from a published tree
    of ``size`` leaves (its right edge is read back from the partial tiles).

    ``append`` writes every tile that became full on the way (with its bundle) and,
    at the end, the partial tiles that changed. Not thread-safe; one writer per
    directory.
    """

    def __init__(self, root: Path, size: int = 0, tail: Sequence[bytes] | None = None) -> None:
        """The writer of the tree of ``size`` leaves under ``root``. Its right edge is
        read from the partial tiles; or, with ``tail`` (the entries of the last
        ``size % 256`` leaves, from the index), rebuilt from them and the full tiles,
        which are durable, when a crash lost or tore a partial tile."""
        self._root = Path(root)
        self._size = size
        reader = TileReader(root, size)
        self._edges: list[list[bytes]] = []
        level = 0
        while size >> (8 * level):
            index = size >> (8 * (level + 1))
            width = reader.width(level, index)
            if tail is None or not width:
                data = reader.hashes(level, index) if width else b""
                self._edges.append([data[i : i + HASH] for i in range(0, len(data), HASH)])
            elif level == 0:
                self._edges.append([leaf_hash(entry) for entry in tail])
            else:  # each hash is the root of a full tile one level down
                below = [reader.hashes(level - 1, index * WIDTH + i) for i in range(width)]
                self._edges.append([_root_of_tile(data) for data in below])
            level += 1
        partial = reader.width(0, size // WIDTH)
        if tail is not None:
            self._bundle = list(tail)
        else:
            self._bundle = reader.bundle(size // WIDTH) if partial else []
        if not self._edges:
            self._edges.append([])
        self._reader: TileReader | None = None

    def rewrite_edge(self) -> None:
        """Write every partial tile of the current right edge again (after a rebuild)."""
        for level, edge in enumerate(self._edges):
            self._write_partial(level, len(edge))

    @property
    def size(self) -> int:
        return self._size

    def append(self, entries: Sequence[bytes]) -> None:
        """Append ``entries`` in order and write what changed (durable on return)."""
        if not entries:
            return
        self._reader = None  # its tree size is stale now
        dirty = {0}
        for entry in entries:
            self._bundle.append(entry)
            self._edges[0].append(leaf_hash(entry))
            self._size += 1
            level = 0
            while len(self._edges[level]) == WIDTH:
                dirty.add(level + 1)
                self._seal(level)
                level += 1
        for level in sorted(dirty):
            if level < len(self._edges):
                self._write_partial(level, len(self._edges[level]))

    def _seal(self, level: int) -> None:
        """Tile ``level`` at the right edge became full: write it, carry its root up."""
        edge = self._edges[level]
        index = (self._size >> (8 * (level + 1))) - 1
        _write_once(self._root, tile_path(level, index), b"".join(edge))
        if level == 0:
            _write_once(self._root, tile_path("entries", index), encode_bundle(self._bundle))
            self._bundle = []
            shutil.rmtree(self._root / f"{tile_path('entries', index)}.p", ignore_errors=True)
        shutil.rmtree(self._root / f"{tile_path(level, index)}.p", ignore_errors=True)
        if level + 1 == len(self._edges):
            self._edges.append([])
        self._edges[level + 1].append(root_of(edge))
        self._edges[level] = []

    def _write_partial(self, level: int, width: int) -> None:
        if not width:
            return
        index = self._size >> (8 * (level + 1))
        edge = self._edges[level]
        write_recreatable(self._root / tile_path(level, index, width), b"".join(edge[:width]))
        if level == 0:
            bundle = encode_bundle(self._bundle[:width])
            write_recreatable(self._root / tile_path("entries", index, width), bundle)

    def ensure_partials(self, size: int) -> None:
        """Write the partial tiles a checkpoint of an earlier ``size`` needs and the
        current tree no longer has under that name (its tiles are still partial
        now, but wider). Used when checkpoints of earlier sizes are (re)published
        after a bulk append."""
        for level, edge in enumerate(self._edges):
            width = (size >> (8 * level)) & (WIDTH - 1)
            same_tile = size >> (8 * (level + 1)) == self._size >> (8 * (level + 1))
            if width and same_tile and width != len(edge):
                self._write_partial(level, width)

    def subtree(self, level: int, index: int) -> bytes:
        """:class:`~sinks.evidence.tree.HashSource` over the written tree: the right
        edge from memory, everything left of it from the full tiles on disk."""
        tile_level, rest = divmod(level, 8)
        first = index << rest
        if first // WIDTH == self._size >> (8 * (tile_level + 1)):
            edge = self._edges[tile_level]
            offset = first % WIDTH
            items = edge[offset : offset + (1 << rest)]
            return items[0] if rest == 0 else root_of(items)
        if self._reader is None:
            self._reader = TileReader(self._root, self._size)
        return self._reader.subtree(level, index)

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (all by default)."""
        size = self._size if size is None else size
        if not 0 <= size <= self._size:
            raise ValueError(f"no tree of size {size} in a log of {self._size}")
        return range_hash(self, 0, size) if size else EMPTY_ROOT
