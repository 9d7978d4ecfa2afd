"""``Journal``: an append-only file of N-Quads blocks, durable on every append.

The embedded identity store makes a checkpoint durable by appending its quads
here and fsyncing (see :mod:`sinks.identity.oxigraph`), and loads the journal
into Oxigraph in bulk now and then. A block is a header line, which is an
N-Quads comment, followed by the block's bytes::

    # block <length> <crc32>\\n<length bytes of N-Quads>

so the journal as a whole is valid N-Quads, and :meth:`Journal.read` can keep
exactly the blocks that were acknowledged: after a crash, the tail written after
the last fsync may be cut short or hold garbage, and a block whose length or
checksum does not match ends what is read. An append that fails is cut off
again, so a failed append never leaves garbage before a later block.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path
from typing import Final

from schemas.durable import fsync_dir

__all__ = ["Journal"]

_HEADER: Final = re.compile(rb"# block (\d+) (\d+)\n")


class Journal:
    """The journal at ``path`` (created if missing). Every method raises ``OSError``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        created = not path.exists()
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open for appends
        if created:
            fsync_dir(path.parent)  # the file's directory entry is durable too
        self._size = self._file.tell()

    @property
    def size(self) -> int:
        """Bytes in the journal."""
        return self._size

    def append(self, data: bytes) -> None:
        """Append ``data`` as one block; durable when this returns. On failure the
        journal is cut back to what it held, so no partial block stays behind."""
        block = b"# block %d %d\n" % (len(data), zlib.crc32(data)) + data
        try:
            written = self._file.write(block)
            if written != len(block):
                raise OSError(f"short write to {self._path}: {written} of {len(block)} bytes")
            os.fsync(self._file.fileno())
        except OSError:
            self._file.truncate(self._size)
            raise
        self._size += len(block)

    def read(self) -> bytes:
        """The journal's complete blocks, headers included (valid N-Quads)."""
        data = self._path.read_bytes()
        end = 0
        while match := _HEADER.match(data, end):
            length, crc = int(match[1]), int(match[2])
            body = data[match.end() : match.end() + length]
            if len(body) != length or zlib.crc32(body) != crc:
                break
            end = match.end() + length
        return data[:end]

    def clear(self) -> None:
        """Empty the journal, durably (its blocks are in the store now)."""
        self._file.truncate(0)
        os.fsync(self._file.fileno())
        self._size = 0

    def close(self) -> None:
        self._file.close()
