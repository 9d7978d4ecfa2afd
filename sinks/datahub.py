"""``DataHubSink``: the catalog plane's store, DataHub Lite on disk (+ optional GMS).

The Recorder half of the catalog projection (the Mapper is
:class:`sinks.catalog.CatalogProjection`).

- **embedded** (always): DataHub Lite's SQLite engine (``datahub.lite``) in
  ``<state_dir>/datahub/lite.sqlite``, in WAL mode; ``datahub lite`` tooling and
  :meth:`DataHubSink.export` read it.
- **GMS** (``DataHubSettings.gms_url`` set): every new aspect is also sent with
  DataHub's ``DatahubRestEmitter`` (token as ``SecretStr``), synchronously, so
  ``write`` returns only after GMS accepted it.

Guarantees: writes are whole-aspect UPSERTs with deterministic URNs, so
``write`` is idempotent (an aspect equal to the stored one is skipped; Lite
itself also ignores an unchanged aspect). ``flush`` checkpoints the SQLite WAL
(durable) and then atomically replaces the watermark file
``<state_dir>/datahub/watermarks.<name>.json``; the watermark never goes
backwards. Every MCP is validated (``mcp.validate()``) before it is written; an
invalid one is a :class:`PermanentError` (a projection bug, not a retry case).

DataHub telemetry: ``datahub.lite`` imports ``datahub.telemetry``, whose import
creates a client id in ``~/.datahub`` (only ``DATAHUB_TELEMETRY_ENABLED=false``
in the environment *before* that import prevents it; only ``main()`` may set
it). Opening a sink calls DataHub's own ``suppress_telemetry()``, so nothing is
ever sent from this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from datahub.emitter.mcp import MetadataChangeProposalWrapper
from datahub.ingestion.sink.file import write_metadata_file
from datahub.lite.lite_local import DataHubLiteLocal
from datahub.lite.lite_util import get_datahub_lite
from pydantic import BaseModel, ConfigDict, SecretStr

from schemas.catalog import SchemaCatalog, load_catalog
from schemas.errors import ConfigError, PermanentError, SinkUnavailableError
from sinks.base import Batch, Watermark, advance, high_offsets
from sinks.catalog import DEFAULT_PROCESSORS, CatalogProjection, aspects_digest
from sinks.directories import live_dir

__all__ = ["DataHubSettings", "DataHubSink", "export_lite", "lite_path", "open_lite"]

DEFAULT_TOPIC = "fractalops.agent-actions.v1"


class DataHubSettings(BaseModel):
    """Where the catalog lives: DataHub Lite under the state dir, plus GMS if set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gms_url: str | None = None
    token: SecretStr | None = None
    env: str = "PROD"
    lite_file: Path | None = None
    """The Lite database; default ``<state_dir>/datahub/lite.sqlite``."""


def lite_path(settings: DataHubSettings, state_dir: Path) -> Path:
    """The Lite database file ``settings`` point at (absolute), in the live generation:
    the configured directory itself, or the generation a replay swapped in there
    (:func:`sinks.directories.live_dir`)."""
    path = settings.lite_file or Path(state_dir) / "datahub" / "lite.sqlite"
    return (live_dir(path.parent) / path.name).resolve()


def open_lite(path: Path, *, read_only: bool = False) -> DataHubLiteLocal[Any]:
    """Open DataHub Lite's SQLite store at ``path`` (WAL, so readers never block the sink).

    Raises :class:`SinkUnavailableError` when it cannot be opened (a read-only
    open of a missing file included).
    """
    from datahub.telemetry.telemetry import suppress_telemetry

    suppress_telemetry()
    path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"file": str(path), "read_only": read_only}
    if not read_only:
        # NORMAL is safe in WAL mode: a crash loses nothing committed that a
        # checkpoint (flush) covered, and commits stop costing an fsync each.
        config["options"] = {"journal_mode": "WAL", "synchronous": "NORMAL"}
    try:
        return get_datahub_lite({"type": "sqlite", "config": config}, read_only=read_only)
    except Exception as exc:  # sqlite3 and DataHub config errors
        raise SinkUnavailableError("datahub", f"cannot open DataHub Lite at {path}: {exc}") from exc


def _aspect_json(mcp: MetadataChangeProposalWrapper) -> dict[str, Any]:
    assert mcp.aspect is not None
    return dict(mcp.aspect.to_obj())


def _fingerprint(mcp: MetadataChangeProposalWrapper) -> str:
    text = json.dumps(_aspect_json(mcp), sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class DataHubSink:
    """The catalog plane sink (see the module docstring). Build it with :meth:`open`."""

    def __init__(
        self,
        lite: DataHubLiteLocal[Any],
        marks_file: Path,
        *,
        name: str = "catalog",
        projection: CatalogProjection | None = None,
        emitter: Any = None,
    ) -> None:
        self._lite: DataHubLiteLocal[Any] | None = lite
        self._marks_file = marks_file
        self._name = name
        self._projection = projection or CatalogProjection()
        self._emitter = emitter
        self._pending: Watermark = {}
        self._known: dict[tuple[str, str], str] = {}
        self.aspects_written = 0
        """Aspects this sink actually wrote (new or changed ones only)."""

    @classmethod
    def open(
        cls,
        settings: DataHubSettings,
        state_dir: Path,
        *,
        name: str = "catalog",
        topics: Sequence[str] = (DEFAULT_TOPIC,),
        catalog: SchemaCatalog | None = None,
    ) -> DataHubSink:
        """Open Lite (and the GMS emitter if configured) and upsert the platform's own
        entities: the topics with their Avro-derived schemas, the ClickHouse tables
        and every projection as a dataJob. Idempotent."""
        path = lite_path(settings, state_dir)
        emitter = None
        if settings.gms_url is not None:
            from datahub.emitter.rest_emitter import DatahubRestEmitter

            if not settings.gms_url.startswith(("http://", "https://")):
                raise ConfigError(f"DataHub GMS URL must be http(s)://: {settings.gms_url!r}")
            token = settings.token.get_secret_value() if settings.token else None
            emitter = DatahubRestEmitter(gms_server=settings.gms_url, token=token)
        projection = CatalogProjection(settings.env)
        sink = cls(
            open_lite(path),
            path.parent / f"watermarks.{name}.json",
            name=name,
            projection=projection,
            emitter=emitter,
        )
        try:
            sink._apply(
                projection.platform_mcps(topics, catalog or load_catalog(), DEFAULT_PROCESSORS)
            )
        except BaseException:
            sink.close()
            raise
        return sink

    @property
    def name(self) -> str:
        return self._name

    @property
    def lite(self) -> DataHubLiteLocal[Any]:
        """The open Lite store (``get``, ``search``, ``get_all_aspects``). Raises after close."""
        if self._lite is None:
            raise SinkUnavailableError(self._name, "sink is closed", retry_after=0.0)
        return self._lite

    @property
    def projection(self) -> CatalogProjection:
        return self._projection

    def write(self, batch: Batch) -> None:
        """Upsert the aspects of ``batch`` that differ from what this sink last wrote.

        Idempotent. Raises :class:`SinkUnavailableError` when Lite or GMS fails
        and :class:`PermanentError` for an MCP that fails DataHub's validation.
        """
        if not batch:
            return
        self.lite  # noqa: B018 - raises when closed
        self._apply(self._projection.project_batch(batch))
        self._pending = advance(self._pending, high_offsets(batch))

    def _apply(self, mcps: Iterable[MetadataChangeProposalWrapper]) -> None:
        lite = self.lite
        fresh = []
        for mcp in mcps:
            key = (str(mcp.entityUrn), str(mcp.aspectName))
            fingerprint = _fingerprint(mcp)
            if self._known.get(key) == fingerprint:
                continue
            if not mcp.validate():
                raise PermanentError(f"{self._name}: invalid MCP for {key[0]} {key[1]}")
            fresh.append((key, fingerprint, mcp))
        if not fresh:
            return
        try:
            for _, _, mcp in fresh:
                lite.write(mcp)
            if self._emitter is not None:
                self._emitter.emit_mcps([mcp for _, _, mcp in fresh])
        except Exception as exc:  # sqlite3, requests and DataHub's own errors
            raise SinkUnavailableError(self._name, f"writing aspects failed: {exc}") from exc
        for key, fingerprint, _ in fresh:
            self._known[key] = fingerprint
        self.aspects_written += len(fresh)

    def flush(self) -> None:
        """Make the written aspects durable, then record the watermark. Steps:

        1. checkpoint Lite's WAL into the database file (fsync);
        2. merge the pending offsets into the stored watermark (never backwards)
           and replace the watermark file atomically (write, fsync, rename).

        Raises :class:`SinkUnavailableError`; the pending watermark is kept.
        """
        if not self._pending:
            return
        self._checkpoint()
        merged = advance(self.watermark(), self._pending)
        data = [[topic, partition, offset] for (topic, partition), offset in sorted(merged.items())]
        try:
            fd, tmp = tempfile.mkstemp(dir=self._marks_file.parent, prefix=".watermarks.")
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._marks_file)
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"watermark write failed: {exc}") from exc
        self._pending = {}

    def watermark(self) -> Watermark:
        """Last flushed offset per ``(topic, partition)``, from the watermark file."""
        self.lite  # noqa: B018 - raises when closed
        try:
            data = json.loads(self._marks_file.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SinkUnavailableError(self._name, f"watermark read failed: {exc}") from exc
        return {(str(t), int(p)): int(o) for t, p, o in data}

    def digest(self) -> str:
        """:func:`sinks.catalog.aspects_digest` of every aspect in the store."""
        return aspects_digest(
            (str(m.entityUrn), str(m.aspectName), _aspect_json(m))
            for m in self.lite.get_all_aspects()
        )

    def export(self, path: Path) -> int:
        """Write every aspect in the store to ``path`` with DataHub's own file writer,
        in the format ``datahub ingest`` loads with the ``file`` source. Returns the
        number of MCPs written."""
        return export_lite(self.lite, path)

    def close(self) -> None:
        """Release Lite (and the emitter). Idempotent; does not flush."""
        lite, self._lite = self._lite, None
        self._known.clear()
        if lite is not None:
            lite.close()
        emitter, self._emitter = self._emitter, None
        if emitter is not None:
            emitter.close()

    def _checkpoint(self) -> None:
        client = getattr(self.lite, "sqlite_client", None)
        if client is None:
            return
        try:
            client.execute("PRAGMA wal_checkpoint(FULL)")
        except Exception as exc:
            raise SinkUnavailableError(self._name, f"checkpoint failed: {exc}") from exc


def export_lite(lite: DataHubLiteLocal[Any], path: Path) -> int:
    """Write every aspect of ``lite`` to ``path`` as a DataHub metadata file (sorted by
    URN and aspect, so the same store always exports the same file)."""
    mcps = sorted(lite.get_all_aspects(), key=lambda m: (str(m.entityUrn), str(m.aspectName)))
    for mcp in mcps:
        mcp.systemMetadata = None  # Lite's bookkeeping (sysVersion, lastObserved)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_metadata_file(path, mcps)
    return len(mcps)
