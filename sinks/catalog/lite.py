"""Opening DataHub Lite's SQLite file: the settings the catalog's store writes with,
read-only opens for readers, and Lite's own browse-index rebuild.

The settings (:data:`OPTIONS`) change how SQLite stores and syncs pages, never what
a SQL reader sees: DataHub's own tooling reads the file as it reads any Lite store.

DataHub telemetry: ``datahub.lite`` imports ``datahub.telemetry``, whose import
creates a client id in ``~/.datahub`` (only ``DATAHUB_TELEMETRY_ENABLED=false`` in
the environment *before* that import prevents it; only ``main()`` may set it).
Opening a store calls DataHub's own ``suppress_telemetry()``, so nothing is ever
sent from this process.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from datahub.lite.sqlite_lite import SqliteLite
from datahub.lite.sqlite_lite_config import SqliteLiteConfig

from schemas.errors import SinkUnavailableError

__all__ = ["OPTIONS", "open_lite", "reindex"]

OPTIONS: Final = {
    # Set before WAL mode, so only a new file takes it (a page size is invisible to any
    # SQL reader, DataHub's included). 16 KB: a batch's commit and the checkpoints copy a
    # quarter as many pages as with SQLite's 4 KB default, for the same bytes; larger
    # pages measured no better and make each lookup read more.
    "page_size": 16_384,
    # NORMAL is safe in WAL mode: a crash loses at most commits not yet synced, and
    # the watermark commit is synced (FULL) after the data it covers.
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    # ~32 MB: the interior pages of Lite's aspect index stay cached as the store grows
    "cache_size": -32_000,
    # Checkpoint once the WAL holds ~64 MB (4,000 pages; SQLite's default 1,000 would
    # checkpoint inside every batch's commit): an index page that several batches
    # changed is copied back once.
    "wal_autocheckpoint": 4_000,
}
"""The PRAGMAs a writer opens Lite's file with, in this order."""


def open_lite(path: Path, *, read_only: bool = False) -> SqliteLite:
    """Open DataHub Lite's SQLite store at ``path`` (WAL, so readers never block the
    writer). Raises :class:`SinkUnavailableError` when it cannot be opened (a read-only
    open of a missing file included)."""
    from datahub.telemetry.telemetry import suppress_telemetry

    suppress_telemetry()
    options = {} if read_only else dict(OPTIONS)
    try:
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteLite(SqliteLiteConfig(file=str(path), read_only=read_only, options=options))
    except (OSError, sqlite3.Error, ValueError) as exc:
        raise SinkUnavailableError("catalog", f"cannot open DataHub Lite at {path}: {exc}") from exc


def reindex(path: Path) -> None:
    """Rebuild the browse index of the Lite store at ``path`` with Lite's own
    ``reindex()`` (what ``datahub lite ls`` walks). Takes the store's write lock while
    it runs. Raises :class:`SinkUnavailableError`."""
    lite = open_lite(path)
    try:
        lite.reindex()
    except (sqlite3.Error, ValueError) as exc:
        raise SinkUnavailableError("catalog", f"reindexing {path}: {exc}") from exc
    finally:
        lite.sqlite_client.close()  # Lite's close() would rebuild the index again
