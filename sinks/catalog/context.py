"""What a per-event handler of the catalog works with: its :class:`Context`, the
``customProperties`` convention (:data:`KIND`, :func:`props`) and the aspect builders
several handlers share. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from datahub.emitter.mcp import MetadataChangeProposalWrapper
from datahub.metadata import schema_classes as dh

from sinks.catalog.urns import Urns, escape

__all__ = ["KIND", "Context", "Handler", "Mcp", "entity", "micros_to_ms", "props", "run_event"]

Mcp = MetadataChangeProposalWrapper

KIND: Final = "fractalops.kind"
"""The ``customProperties`` key naming which seed entity a DataHub entity is."""


def props(entity: str, /, **values: Any) -> dict[str, str]:
    """``customProperties`` of a seed entity: :data:`KIND` first, then every value that
    is set, as a string. Pure."""
    out = {KIND: entity}
    out.update({k: str(v) for k, v in values.items() if v is not None and v != ""})
    return out


def micros_to_ms(micros: Any) -> int:
    """An Avro ``timestamp-micros`` as DataHub's milliseconds. Pure."""
    return int(micros) // 1000


class Context:
    """What a handler links to, and where it emits. One per event.

    ``emit(urn, *aspects)`` states aspects; ``repeat(key, build)`` states the MCPs
    ``build()`` returns, building them once per ``key`` for the whole batch (for
    entities many events state identically, e.g. a tool's dataJob); ``cached(key,
    compute)`` is ``compute()`` once per ``key`` for the batch (a URN many events
    name: DataHub's URN builders parse and check what they build).
    """

    __slots__ = (
        "_cached",
        "_emit",
        "_repeat",
        "flow",
        "home",
        "p",
        "project",
        "record",
        "run",
        "urns",
    )

    def __init__(
        self,
        record: Mapping[str, Any],
        *,
        urns: Urns,
        project: str,
        p: str,
        home: str,
        flow: str,
        run: str | None,
        emit: Callable[[Mcp], None],
        repeat: Callable[[object, Callable[[], list[Mcp]]], None],
        cached: Callable[[object, Callable[[], str]], str],
    ) -> None:
        self.record = record
        self.urns = urns
        self.project = project
        self.p = p
        self.home = home
        self.flow = flow
        self.run = run
        self._emit = emit
        self._repeat = repeat
        self._cached = cached

    def emit(self, urn: str, *aspects: Any) -> None:
        for aspect in aspects:
            self._emit(Mcp(entityUrn=urn, aspect=aspect))

    def repeat(self, key: object, build: Callable[[], list[Mcp]]) -> None:
        self._repeat(key, build)

    def cached(self, key: object, compute: Callable[[], str]) -> str:
        return self._cached(key, compute)

    def github(self, kind: str, ref: str) -> str:
        return self.cached(("github", kind, ref), lambda: self.urns.github(kind, ref))

    def repository(self, repository: str) -> str:
        return self.cached(("repository", repository), lambda: self.urns.repository(repository))

    def stamp(self) -> Any:
        actor = self.record["actor"]
        return dh.AuditStampClass(
            time=micros_to_ms(self.record["occurred_at"]),
            actor=f"urn:li:corpuser:{escape(actor['id'])}",
        )

    def children(self) -> Any:
        return dh.DataProcessInstanceRelationshipsClass(
            upstreamInstances=[], parentInstance=self.run
        )


Handler = Callable[[Context], None]


def entity(urn: str, *aspects: Any) -> list[Mcp]:
    """One MCP per aspect of ``urn``."""
    return [Mcp(entityUrn=urn, aspect=aspect) for aspect in aspects]


def run_event(timestamp_ms: int, result: str, native: str, duration_ms: int | None = None) -> Any:
    """A process instance's run ``COMPLETE`` with ``result`` (native: ``native``)."""
    return dh.DataProcessInstanceRunEventClass(
        timestampMillis=timestamp_ms,
        # the schema's default, given explicitly: the constructor would otherwise
        # decode it from the Avro schema on every call (most of the aspect's cost)
        partitionSpec=dh.PartitionSpecClass(
            partition="FULL_TABLE_SNAPSHOT", type=dh.PartitionTypeClass.FULL_TABLE
        ),
        status=dh.DataProcessRunStatusClass.COMPLETE,
        result=dh.DataProcessInstanceRunResultClass(type=result, nativeResultType=native),
        durationMillis=duration_ms,
    )
