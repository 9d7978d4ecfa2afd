"""``Plane``: one projection beside its store, as the registry lists it.

Every plane is one folder under ``sinks/`` (``facts/``, ``identity/``, …) that
exports a ``make_plane(...)`` returning a :class:`Plane`; the composition root
(``proofstream.planes``) binds each to its settings, one line per plane. The
worker, ``status``, ``demo`` and every ``replay``/``archive``/``dlq`` command read
that one registry: adding a plane is adding a folder and a line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sinks.base import Projection, Store
from sinks.generations import Rebuildable

__all__ = ["Plane"]

W = TypeVar("W")


@dataclass(frozen=True)
class Plane(Generic[W]):
    """A plane: its pure ``projection``, how to open its live ``store`` (called once,
    on the thread that will use it), and how to reach its generations from an open
    live store (``None``: the plane is not rebuilt by replay, e.g. the archive,
    which *is* the log).
    """

    name: str
    projection: Projection[W]
    open_store: Callable[[], Store[W]]
    generations: Callable[[Store[W]], Rebuildable] | None = None
    group: str | None = None
    """Consumer group suffix when it is not the plane's name."""

    @property
    def rebuildable(self) -> bool:
        return self.generations is not None


AnyPlane = Plane[Any]
