"""What a per-event handler of the catalog works with: its :class:`Context`, what the
projection returns (:class:`Proposal`), and the ``customProperties`` convention
(:data:`KIND`, :func:`props`). Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from datahub.emitter.mcp import MetadataChangeProposalWrapper

from sinks.catalog.aspects import Recipe, relationships
from sinks.catalog.urns import Urns, escape

__all__ = ["KIND", "Context", "Handler", "Mcp", "Proposal", "entity", "micros_to_ms", "props"]

Mcp = MetadataChangeProposalWrapper

KIND: Final = "fractalops.kind"
"""The ``customProperties`` key naming which seed entity a DataHub entity is."""


class Proposal(NamedTuple):
    """One aspect the catalog states: the entity's URN, the aspect's name and how to
    build it (:mod:`sinks.catalog.aspects`). :meth:`mcp` builds DataHub's
    ``MetadataChangeProposalWrapper`` (an UPSERT of the whole aspect) with DataHub's
    own classes, a new one at each call. Pure."""

    urn: str
    aspect_name: str
    build: Callable[..., Any]
    args: tuple[Any, ...]

    def mcp(self) -> Mcp:
        return Mcp(entityUrn=self.urn, aspect=self.build(*self.args))


_new = tuple.__new__
"""A named tuple's own ``__new__`` is a Python function (three times the cost):
``_new(Proposal, (...))`` makes the same object."""


def entity(urn: str, *recipes: Recipe) -> list[Proposal]:
    """One proposal per aspect recipe of ``urn``."""
    return [_new(Proposal, (urn, *recipe)) for recipe in recipes]


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

    ``emit(urn, *recipes)`` states aspects; ``repeat(key, build)`` states the proposals
    ``build()`` returns, calling it once per ``key`` for the whole batch (for entities
    many events state identically, e.g. a tool's dataJob); ``cached(key, compute)`` is
    ``compute()`` once per ``key`` for the batch (a URN many events name: DataHub's
    URN builders parse and check what they build).
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
        emit: Callable[[Proposal], None],
        repeat: Callable[[object, Callable[[], list[Proposal]]], None],
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

    def emit(self, urn: str, *recipes: Recipe) -> None:
        for recipe in recipes:
            self._emit(_new(Proposal, (urn, *recipe)))

    def repeat(self, key: object, build: Callable[[], list[Proposal]]) -> None:
        self._repeat(key, build)

    def cached(self, key: object, compute: Callable[[], str]) -> str:
        return self._cached(key, compute)

    def github(self, kind: str, ref: str) -> str:
        return self.cached(("github", kind, ref), lambda: self.urns.github(kind, ref))

    def repository(self, repository: str) -> str:
        return self.cached(("repository", repository), lambda: self.urns.repository(repository))

    def occurred_ms(self) -> int:
        """When the event occurred, in DataHub's milliseconds."""
        return micros_to_ms(self.record["occurred_at"])

    def actor(self) -> str:
        """The corpuser URN of the event's actor (who created what it states)."""
        return f"urn:li:corpuser:{escape(self.record['actor']['id'])}"

    def children(self) -> Recipe:
        """``dataProcessInstanceRelationships`` of an instance within the event's run."""
        return relationships(parent_instance=self.run)


Handler = Callable[[Context], None]
