"""``FactsProjection``: a batch of encoded records → Avro blocks ClickHouse decodes.

The facts plane's projection runs in its store: ClickHouse's own Avro reader
decodes the records and the materialized views of :mod:`sinks.facts.views` map
them to rows. The Python half only groups a batch's still-encoded records by
writer schema and wraps each group in an Avro container (:mod:`sinks.facts.blocks`):
no event is decoded in Python on this path.

Schema evolution: a record written with an older schema lands through its own
writer schema's container (ClickHouse resolves it by field name into the
current columns; a field added since takes its declared default). Only a writer
schema whose upgrade needs an upcaster (a declared breaking change, which no Avro
reader can resolve) is decoded, upcast and re-encoded with the current schema
here.

Idempotence: each block carries an ``insert_deduplication_token`` derived from
the event type, writer schema, projection version and the exact log positions it
holds, so re-inserting the same block is dropped by ClickHouse; the tables are
``ReplacingMergeTree`` on ``event_id`` for any other cut. Pure: the same batch
always gives the same blocks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from schemas.codec import MAGIC, EventCodec
from sinks.base import Batch, Encoded, Input, LogPosition
from sinks.facts.blocks import Container, block_of

__all__ = [
    "PROJECTION_VERSION",
    "AvroBlock",
    "FactsProjection",
    "FactsWrites",
    "positions_signature",
]

PROJECTION_VERSION = 1
"""Written to every row as ``ingest_version`` (the ReplacingMergeTree version).

Bump it when the mapping changes: a rebuild then wins over rows of the old mapping."""


@dataclass(frozen=True, slots=True)
class AvroBlock:
    """One insert: the records of one event type and writer schema, as a container."""

    event_type: str
    fingerprint: bytes
    data: bytes
    count: int
    token: str
    positions: tuple[LogPosition, ...]


@dataclass(frozen=True, slots=True)
class FactsWrites:
    """What the facts store inserts for one batch."""

    blocks: tuple[AvroBlock, ...] = ()

    def __len__(self) -> int:
        return sum(b.count for b in self.blocks)


def positions_signature(positions: Sequence[LogPosition]) -> str:
    """The log positions as a short, order-independent string. Pure.

    Readable offset ranges per partition plus a digest of every offset, so two
    sets share a signature only when they hold exactly the same positions.
    """
    offsets: dict[tuple[str, int], list[int]] = {}
    for pos in positions:
        offsets.setdefault((pos.topic, pos.partition), []).append(pos.offset)
    digest = hashlib.blake2b(digest_size=12)
    spans = []
    for (topic, partition), values in sorted(offsets.items()):
        values.sort()  # int sort in C: far cheaper than sorting the positions
        spans.append(f"{topic}:{partition}:{values[0]}-{values[-1]}")
        digest.update(f"{topic}\0{partition}\0".encode())
        digest.update(",".join(map(str, values)).encode())
    return f"{','.join(spans)}:{digest.hexdigest()}"


class FactsProjection:
    """The facts plane's projection (module docstring). Reads every event type,
    still encoded; stateless once built (the container headers are computed from
    the schema catalog up front)."""

    name = "facts"
    reads: frozenset[str] | None = None
    input = Input.ENCODED

    def __init__(self, codec: EventCodec, version: int = PROJECTION_VERSION) -> None:
        self._codec = codec
        self.version = version
        catalog = codec.catalog
        self._containers: Mapping[bytes, Container] = MappingProxyType(
            {fp: Container.of(sv.schema) for fp, sv in catalog.by_fingerprint.items()}
        )

    def project(self, batch: Batch) -> FactsWrites:
        """Blocks for the batch's encoded records, one per (event type, writer schema),
        in order of first appearance; records keep their log order inside a block."""
        groups: dict[bytes, list[Encoded]] = {}
        for read in batch.encoded:
            record = self._upcast(read) if self._codec.upcasts(read.fingerprint) else read
            groups.setdefault(record.fingerprint, []).append(record)
        blocks = []
        for fingerprint, records in groups.items():
            positions = tuple(r.position for r in records)
            event_type = records[0].event_type
            token = (
                f"{event_type}:{fingerprint.hex()}:v{self.version}:{positions_signature(positions)}"
            )
            data = block_of(self._containers[fingerprint], records)
            blocks.append(AvroBlock(event_type, fingerprint, data, len(records), token, positions))
        return FactsWrites(tuple(blocks))

    def _upcast(self, record: Encoded) -> Encoded:
        """Decode, upcast and re-encode a record with its type's current schema."""
        codec = self._codec
        current = codec.encode_record(codec.decode_record(MAGIC + record.fingerprint + record.body))
        return Encoded(record.position, record.event_type, current[2:10], current[10:])
