"""Upcasters: explicit functions that carry a record across a *breaking* change.

A compatible change (a new field with a default) needs nothing here: Avro schema
resolution reads old bytes into the new schema. A breaking change (a type
change) is released as a new version *and* an upcaster from the previous one,
declared in :data:`UPCASTERS`. The decoder reads old bytes with their own writer
schema, then runs the chain of upcasters up to the current version. The schema
gate (``proofstream schemas check``) accepts an incompatible version only when an
upcaster is declared for exactly that step.

Upcasters are pure: they take a raw record (the shape ``EventCodec.decode_record``
returns: ints for timestamps, strings for UUIDs) and return a new one, and raise
``ValueError`` when the old record cannot be carried over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from schemas.records import Record

__all__ = ["UPCASTERS", "Upcaster", "upcast_lineage_declared_v1_v2"]


@dataclass(frozen=True, slots=True)
class Upcaster:
    """Carries ``event_type`` records from ``from_version`` to ``to_version``."""

    event_type: str
    from_version: int
    to_version: int
    function: Callable[[Mapping[str, Any]], Record]


_LINEAGE_KINDS = frozenset({"dataset", "feature", "api", "route"})


def _lineage_ref(ref: str) -> Record:
    kind, sep, name = ref.partition(":")
    if not sep or kind not in _LINEAGE_KINDS or not name:
        raise ValueError(f"lineage ref {ref!r} is not 'kind:name' with a known kind")
    return {"kind": kind, "name": name}


def upcast_lineage_declared_v1_v2(record: Mapping[str, Any]) -> Record:
    """``lineage.declared`` v1 → v2: ``'kind:name'`` strings become typed ``LineageRef``s."""
    out = dict(record)
    out["inputs"] = [_lineage_ref(ref) for ref in record["inputs"]]
    out["outputs"] = [_lineage_ref(ref) for ref in record["outputs"]]
    return out


UPCASTERS: Mapping[tuple[str, int], Upcaster] = MappingProxyType(
    {
        (u.event_type, u.from_version): u
        for u in (Upcaster("lineage.declared", 1, 2, upcast_lineage_declared_v1_v2),)
    }
)
"""Every declared breaking step, keyed by ``(event_type, from_version)``."""
