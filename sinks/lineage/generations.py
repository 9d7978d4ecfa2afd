"""Generations of the lineage plane: one file-transport directory per generation.

The :class:`~sinks.generations.Rebuildable` port for
:class:`~sinks.lineage.store.OpenLineageStore` with the **file transport** (layout
and swap in :mod:`sinks.directories`; ``<base>`` is ``<state_dir>/openlineage``):

- **shadow**: the same :class:`~sinks.lineage.store.OpenLineageStore` class, its
  transport appending to ``<base>/generations/g<N>/events.ndjson`` and its
  ``state.db`` (dedupe keys, run → job, watermark) in the same directory, fed by
  the same pure projection as live. A shadow never emits anywhere else, so a
  rebuild never re-sends lineage to a backend.
- **digest**: :func:`~sinks.lineage.events.lineage_digest` (order-independent,
  without ``eventTime``) of the agent-run events whose ``fractalops_source``
  facet lies in the covered positions — so it **is restricted** to the log
  range. The projections' own checkpoint runs (``processor_namespace``) depend on
  batch cuts and are left out.
- **diff**: per ``runId eventType source-event-id``: added, removed, changed.
- **swap**: the pointer; afterwards :meth:`OpenLineageStore.open` appends to the
  swapped-in generation's ``events.ndjson``.
- **drop** of generation 0: ``<base>/state.db`` and the configured events file.

An HTTP transport (``OpenLineageSettings.url``) cannot be read back or swapped:
such a plane is not rebuildable (:class:`ConfigError` here).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

from schemas.errors import ConfigError
from sinks.digests import combine_parts, in_range, keyed_diff
from sinks.directories import DirectoryGenerations
from sinks.generations import Digest, LogRange, TableDiff
from sinks.lineage.events import lineage_digest
from sinks.lineage.settings import OpenLineageSettings
from sinks.lineage.store import EVENTS, STATE, OpenLineageStore
from sinks.lineage.transports import StagedFileTransport, read_events

__all__ = ["LineageGenerations"]

_NOTE = "agent-run lineage events whose source event lies in the covered positions"


def _source(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    facets = event.get("run", {}).get("facets", {})
    source: Mapping[str, Any] | None = facets.get("fractalops_source")
    return source


class LineageGenerations(DirectoryGenerations):
    """:class:`~sinks.generations.Rebuildable` for the lineage plane (module docstring).

    ``live`` is the open live store; ``settings``, ``state_dir`` and
    ``kafka_bootstrap`` are the ones it was opened with.
    """

    def __init__(
        self,
        live: OpenLineageStore,
        settings: OpenLineageSettings,
        state_dir: Path,
        *,
        kafka_bootstrap: str,
    ) -> None:
        if settings.url or live.events_file is None:
            raise ConfigError(
                "lineage generations need the file transport; an HTTP backend"
                " (openlineage.url) cannot be read back or swapped"
            )
        self._live = live
        self._settings = settings
        self._state_dir = Path(state_dir)
        self._bootstrap = kafka_bootstrap
        super().__init__(self._state_dir.resolve() / "openlineage", live.name)

    def _open_shadow(self, number: int, directory: Path) -> OpenLineageStore:
        """An :class:`OpenLineageStore` writing only into generation ``number``'s directory."""
        del number  # the directory is the generation's
        return OpenLineageStore(
            directory,
            StagedFileTransport(directory / EVENTS),
            name=self._live.name,
            kafka_bootstrap=self._bootstrap,
            processor_namespace=self._settings.processor_namespace,
        )

    def _events(self, target: int | Literal["live"], covered: LogRange) -> Iterator[dict[str, Any]]:
        path = self._live.events_file if self._is_live(target) else None
        path = path or self.directory(int(target)) / EVENTS
        for event in read_events(path):
            source = _source(event)
            if source is not None and in_range(
                covered, str(source["topic"]), int(source["partition"]), int(source["offset"])
            ):
                yield event

    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest:
        """:func:`lineage_digest` of the events sourced from ``covered`` (module docstring)."""
        events = list(self._events(target, covered))
        value = lineage_digest(events, exclude_namespace=self._settings.processor_namespace)
        parts = {"events": f"{len(events)}:{value}"}
        return Digest(combine_parts(parts), parts, {"events": len(events)}, note=_NOTE)

    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]:
        """Events per ``runId eventType source-event-id``: only in one, or different."""

        def keyed(target: int | Literal["live"]) -> dict[str, bytes]:
            out = {}
            for event in self._events(target, covered):
                source = _source(event) or {}
                key = f"{event['run']['runId']} {event['eventType']} {source.get('eventId')}"
                body = {k: v for k, v in event.items() if k != "eventTime"}
                out[key] = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
            return out

        return [keyed_diff("events", keyed("live"), keyed(number))]

    def _remove_base(self) -> None:
        for name in (STATE, f"{STATE}-wal", f"{STATE}-shm"):  # SQLite's WAL files too
            (self.base / name).unlink(missing_ok=True)
        self._settings.resolve_file(self._state_dir).unlink(missing_ok=True)
