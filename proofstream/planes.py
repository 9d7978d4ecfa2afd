"""The plane registry: every plane, bound to its settings. One line per plane.

The worker, ``status``, ``demo`` and every ``replay``/``archive``/``dlq`` command
read this registry; adding a plane is adding a folder under ``sinks/`` and a line
here. Each line imports its plane lazily, so a process loads only the client
libraries of the planes it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from proofstream.settings import Settings
from schemas.codec import EventCodec
from schemas.errors import ConfigError
from sinks.plane import Plane

__all__ = ["PLANES", "QUERY_PLANE", "plane", "planes"]


def _facts(s: Settings, codec: EventCodec) -> Plane[Any]:
    from sinks import facts

    return facts.make_plane(s.clickhouse, s.state_dir, codec)


def _archive(s: Settings, codec: EventCodec) -> Plane[Any]:
    from sinks import archive

    return archive.make_plane(s.state_dir.resolve() / "archive")


def _identity(s: Settings, codec: EventCodec) -> Plane[Any]:
    from sinks import identity

    return identity.make_plane(s.rdf, s.state_dir)


def _catalog(s: Settings, codec: EventCodec) -> Plane[Any]:
    from sinks import catalog

    return catalog.make_plane(s.datahub, s.state_dir, (s.kafka.topics.events,))


def _evidence(s: Settings, codec: EventCodec) -> Plane[Any]:
    from sinks import evidence

    return evidence.make_plane(s.chronicle, s.state_dir)


def _lineage(s: Settings, codec: EventCodec) -> Plane[Any]:
    from sinks import lineage

    return lineage.make_plane(s.openlineage, s.state_dir, s.kafka.bootstrap_servers)


PLANES: Mapping[str, Callable[[Settings, EventCodec], Plane[Any]]] = MappingProxyType(
    {
        "facts": _facts,
        "archive": _archive,
        "evidence": _evidence,
        "lineage": _lineage,
        "identity": _identity,
        "catalog": _catalog,
    }
)
"""Plane name → how to build it. The name is also its consumer group suffix."""

QUERY_PLANE = "facts"
"""The plane ``proofstream query`` talks to."""


def plane(name: str, settings: Settings, codec: EventCodec) -> Plane[Any]:
    """The plane ``name`` bound to ``settings``. Raises ``ConfigError`` for an unknown name."""
    try:
        factory = PLANES[name]
    except KeyError:
        known = ", ".join(sorted(PLANES))
        raise ConfigError(f"unknown plane {name!r}; known: {known}") from None
    return factory(settings, codec)


def planes(
    names: list[str] | tuple[str, ...], settings: Settings, codec: EventCodec
) -> list[Plane[Any]]:
    """The planes ``names``, in order."""
    return [plane(name, settings, codec) for name in names]
