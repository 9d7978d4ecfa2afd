"""Reading the catalog back: where the live store is, export, digest and summary.

Everything here reads through DataHub Lite's own API (``get_all_entities``,
``get_all_aspects``, ``list_ids``), so what it reports is what DataHub's tooling
sees in the same file; it works on a read-only open while a worker writes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datahub.ingestion.sink.file import write_metadata_file
from datahub.lite.lite_local import DataHubLiteLocal
from datahub.utilities.urns.urn import guess_entity_type

from sinks.catalog.settings import DataHubSettings
from sinks.directories import live_dir

__all__ = [
    "CatalogSummary",
    "aspects_digest",
    "canonical",
    "export_lite",
    "latest_aspects",
    "lite_path",
    "summarize",
]


def lite_path(settings: DataHubSettings, state_dir: Path) -> Path:
    """The Lite database file ``settings`` point at (absolute), in the live generation:
    the configured directory itself, or the generation a replay swapped in there
    (:func:`sinks.directories.live_dir`)."""
    path = settings.lite_file_in(state_dir)
    return (live_dir(path.parent) / path.name).resolve()


def canonical(aspect: Any) -> bytes:
    """An aspect's JSON with sorted keys and no spaces: equal bytes for equal content.
    Pure."""
    return json.dumps(aspect, sort_keys=True, separators=(",", ":")).encode()


def aspects_digest(aspects: Iterable[tuple[str, str, Any]]) -> str:
    """SHA-256 (hex) over sorted ``urn, aspectName, canonical JSON`` lines. Pure.

    Order-independent; system metadata (``lastObserved``, versions, hashes) is not
    part of it, so a rebuilt catalog has the live one's digest exactly when every
    latest aspect is equal.
    """
    lines = sorted(f"{urn}\t{name}\t".encode() + canonical(aspect) for urn, name, aspect in aspects)
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line)
        digest.update(b"\n")
    return digest.hexdigest()


def latest_aspects(lite: DataHubLiteLocal[Any]) -> list[tuple[str, str, Any]]:
    """``(urn, aspect name, aspect JSON)`` of every latest aspect, as Lite reads them."""
    return [
        (urn, name, aspect)
        for entity in lite.get_all_entities(typed=False)
        for urn, aspects in entity.items()
        for name, aspect in aspects.items()
    ]


def export_lite(lite: DataHubLiteLocal[Any], path: Path) -> int:
    """Write every latest aspect of ``lite`` to ``path`` with DataHub's own file writer,
    in the format ``datahub ingest`` loads with the ``file`` source, sorted by URN and
    aspect (the same store always exports the same file). Returns the MCP count."""
    mcps = sorted(lite.get_all_aspects(), key=lambda m: (str(m.entityUrn), str(m.aspectName)))
    for mcp in mcps:
        mcp.systemMetadata = None  # Lite's and the store's bookkeeping, not catalog content
    path.parent.mkdir(parents=True, exist_ok=True)
    write_metadata_file(path, mcps)
    return len(mcps)


@dataclass(frozen=True, slots=True)
class CatalogSummary:
    """What a catalog holds, as DataHub Lite reads it: ``entities`` per entity type
    (distinct URNs, the ids ``list_ids()`` returns) and the number of latest aspects."""

    entities: Mapping[str, int]
    aspects: int

    @property
    def total(self) -> int:
        return sum(self.entities.values())


def summarize(lite: DataHubLiteLocal[Any]) -> CatalogSummary:
    """Entities per type from ``list_ids()`` and the latest aspects, counted."""
    entities = Counter(guess_entity_type(urn) for urn in lite.list_ids())
    aspects = len(latest_aspects(lite))
    return CatalogSummary(dict(sorted(entities.items())), aspects)
