"""The schema-evolution gate behind ``proofstream schemas check``.

It lives in the composition root because it uses the Apache ``avro`` library's
``ReaderWriterCompatibilityChecker`` (not our own rules), and ``schemas`` must stay
free of pipeline libraries. Fingerprints and decoding stay with fastavro.

Checks, for a schema root laid out as ``v<N>/<Name>.avsc``:

1. every file pinned in ``RELEASED.json`` still exists with the same sha256;
2. for every event type, each version can read data written by every earlier
   version (transitively: every pair, not just neighbours), unless a declared
   upcaster (``schemas.upcast.UPCASTERS``) covers a breaking step between them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from schemas.catalog import AVRO_ROOT, LOCK_FILE, SchemaVersion, load_catalog
from schemas.errors import IncompatibleSchemaError, SchemaError
from schemas.upcast import UPCASTERS

__all__ = ["GateReport", "check_schemas", "find_problems"]


@dataclass(frozen=True, slots=True)
class GateReport:
    """What a passing gate checked."""

    event_types: int
    pairs_checked: int
    upcast_steps: int
    released_files: int


def _field_path(schema: Mapping[str, Any], location: str) -> str:
    """Turn ``/fields/3/type/fields/0/type`` into ``producer.service``."""
    tokens = [t for t in location.split("/") if t]
    node: Any = schema
    names: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "fields" and i + 1 < len(tokens) and isinstance(node, dict):  # noqa: S105
            node = node["fields"][int(tokens[i + 1])]
            names.append(str(node["name"]))
            i += 2
            continue
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit():
            node = node[int(token)]
        else:
            break
        i += 1
    return ".".join(names) or "<schema>"


def _check_locks(root: Path) -> list[SchemaError]:
    lock_path = root / LOCK_FILE
    if not lock_path.is_file():
        return []
    problems: list[SchemaError] = []
    for relative, digest in json.loads(lock_path.read_text(encoding="utf-8")).items():
        path = root / relative
        if not path.is_file():
            problems.append(SchemaError(f"{relative}: released schema was deleted"))
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(
                SchemaError(f"{relative}: released schema changed; add a new version instead")
            )
    return problems


def _breaks_between(older: SchemaVersion, newer: SchemaVersion, versions: list[int]) -> bool:
    steps = itertools.pairwise(versions)
    return any(
        older.version <= a
        and b <= newer.version
        and (u := UPCASTERS.get((older.event_type, a))) is not None
        and u.to_version == b
        for a, b in steps
    )


def find_problems(root: Path = AVRO_ROOT) -> tuple[list[SchemaError], GateReport]:
    """Run every check; return the problems found (empty when the gate passes).

    Pure apart from reading ``root``. Raises :class:`SchemaError` only when the
    catalog cannot be loaded at all.
    """
    problems = _check_locks(root)
    catalog = load_catalog(root)
    pairs = upcasts = 0
    for event_type in catalog.event_types:
        history = catalog.versions(event_type)
        numbers = [sv.version for sv in history]
        parsed = {sv.version: avro.schema.parse(json.dumps(dict(sv.schema))) for sv in history}
        for j, newer in enumerate(history):
            for older in history[:j]:
                if _breaks_between(older, newer, numbers):
                    upcasts += 1
                    continue
                pairs += 1
                checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
                result = checker.get_compatibility(
                    reader=parsed[newer.version], writer=parsed[older.version]
                )
                if result.compatibility is SchemaCompatibilityType.compatible:
                    continue
                location = max(result.locations, key=len)
                problems.append(
                    IncompatibleSchemaError(
                        newer.label,
                        _field_path(dict(newer.schema), location),
                        f"cannot read {older.label}: {'; '.join(sorted(result.messages))}"
                        " (declare an upcaster in schemas/upcast.py for a breaking change)",
                    )
                )
    report = GateReport(
        event_types=len(catalog.event_types),
        pairs_checked=pairs,
        upcast_steps=upcasts,
        released_files=len(json.loads((root / LOCK_FILE).read_text()))
        if (root / LOCK_FILE).is_file()
        else 0,
    )
    return problems, report


def check_schemas(root: Path = AVRO_ROOT) -> GateReport:
    """Run the gate; raise the first problem (``IncompatibleSchemaError`` names the
    schema and the field) or return what was checked."""
    problems, report = find_problems(root)
    if problems:
        raise problems[0]
    return report
