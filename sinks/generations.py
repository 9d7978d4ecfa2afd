"""The ``Rebuildable`` port: what a sink must offer so ``replay`` can rebuild it.

A projection is a pure function of the log, so any store can be rebuilt: replay
reads a fixed range of the log, runs the same projection code into a **shadow
generation** of the store, computes an order-independent **digest** of it and of
the live store over the same positions, and, when asked, **swaps** the shadow in.

Generations are numbered per projection. Generation 0 is the store as the
migrations created it; every rebuild allocates the next number. Exactly one
generation is ``live`` (the one analysts and the live worker see); a replaced one
becomes ``old`` until ``drop`` removes its data (``replay gc``).

Value types here are pure and shared by every implementation; the ClickHouse one
is :class:`sinks.clickhouse_generations.ClickHouseGenerations`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from sinks.base import Store

__all__ = [
    "LIVE",
    "Digest",
    "Generation",
    "GenerationStatus",
    "LogRange",
    "Rebuildable",
    "TableDiff",
]

LIVE: Literal["live"] = "live"
"""The target name of the live generation in :meth:`Rebuildable.digest`."""

LogRange = Mapping[tuple[str, int], tuple[int, int]]
"""Per ``(topic, partition)``: the first and last offset covered, both inclusive.
A partition with nothing to cover is absent."""


class GenerationStatus(StrEnum):
    """Lifecycle of a generation: building → built → live → old → dropped (or failed)."""

    BUILDING = "building"
    BUILT = "built"
    LIVE = "live"
    OLD = "old"
    DROPPED = "dropped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Generation:
    """One generation of one projection, as recorded by the store.

    ``covered`` is the log range the generation was built from (empty for
    generation 0); ``lineage`` is the OpenLineage-style run record of the rebuild.
    """

    projection: str
    number: int
    status: GenerationStatus
    created_at_us: int
    projection_version: int
    covered: LogRange = field(default_factory=dict)
    digest: str = ""
    lineage: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TableDiff:
    """Rows of one table that a generation has and live has not (``added``), the
    reverse (``removed``), and rows with the same key but other values (``changed``);
    ``sample`` holds a few differing keys for a human to look at."""

    table: str
    added: int
    removed: int
    changed: int
    sample: tuple[str, ...] = ()

    @property
    def equal(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True, slots=True)
class Digest:
    """An order-independent digest of a store over a log range: one value per part
    (table, graph, …) and the combined ``value``. Equal digests mean equal content.

    ``note`` says how the digest was restricted when a store cannot restrict it to
    the log range (e.g. RDF triples carry no offsets: the whole graph is digested).
    ``comparable`` is False on a live digest that must not be compared with the
    rebuild's (live covers other positions than the range); its ``value`` then
    never equals a rebuild's and ``note`` says why.
    """

    value: str
    parts: Mapping[str, str]
    rows: Mapping[str, int]
    note: str = ""
    comparable: bool = True


@runtime_checkable
class Rebuildable(Protocol):
    """The port ``replay`` drives. Every method may raise ``SinkUnavailableError``.

    The protocol, in call order for one rebuild:

    1. ``allocate(version)`` records a new generation ``building`` and prepares
       empty shadow targets for it; returns its number.
    2. ``open_shadow(number)`` returns the plane's own store class pointed at that
       generation only (another table suffix or directory); replay feeds it the log
       range through the *same* pure projection as live, then flushes it.
    3. ``digest(number, covered)`` and ``digest(LIVE, covered)`` digest the shadow
       and the live store restricted to the same log positions; ``diff`` explains a
       mismatch per table.
    4. ``finish(number, covered, digest, lineage)`` marks it ``built``.
    5. ``swap(number)`` makes it ``live`` atomically for readers (queries running
       during the swap see the old or the new generation, never a mix or an
       error) and marks the previous live generation ``old``. It also records the
       live watermark as the covered high offsets, so the live worker resumes
       after them.
    6. ``drop(number)`` deletes an ``old``/``built``/``failed`` generation's data;
       never the live one.
    """

    @property
    def projection_name(self) -> str: ...

    def generations(self) -> Sequence[Generation]: ...

    def allocate(self, projection_version: int) -> int: ...

    def open_shadow(self, number: int) -> Store[Any]: ...

    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest: ...

    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]: ...

    def finish(
        self, number: int, covered: LogRange, digest: Digest, lineage: Mapping[str, Any]
    ) -> None: ...

    def fail(self, number: int, reason: str) -> None: ...

    def swap(self, number: int) -> None: ...

    def drop(self, number: int) -> None: ...
