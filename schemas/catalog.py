"""The schemas kept in the repo, loaded once into an immutable catalog.

Layout: ``schemas/avro/v<N>/<RecordName>.avsc``. Version ``v1`` holds every event
type; a later ``v<N>`` holds only the event types that changed in it. Every
released file stays forever and never changes (``RELEASED.json`` pins its
sha256). The *current* schema of an event type is its highest version: the
reader schema every decode resolves into.

Fingerprints are CRC-64-AVRO (Rabin) of the Parsing Canonical Form, computed
by fastavro only (the Apache ``avro`` package fingerprints logical types
differently; mixing the two would break single-object decoding).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.errors import SchemaError

__all__ = [
    "AVRO_ROOT",
    "LOCK_FILE",
    "SchemaCatalog",
    "SchemaVersion",
    "avro_fingerprint",
    "load_catalog",
    "strip_logical_types",
]

AVRO_ROOT = Path(__file__).resolve().parent / "avro"
"""Where the released ``.avsc`` files live inside the installed package."""
LOCK_FILE = "RELEASED.json"
"""Name of the file, under the Avro root, that pins the sha256 of released files."""

_VERSION_DIR = re.compile(r"v(?P<n>[1-9][0-9]*)")


def avro_fingerprint(schema: Mapping[str, Any]) -> bytes:
    """CRC-64-AVRO fingerprint of ``schema`` as the 8 little-endian bytes of the
    single-object encoding header. Pure; raises ``SchemaError`` for an invalid schema."""
    try:
        hex_digest = fingerprint(to_parsing_canonical_form(dict(schema)), "CRC-64-AVRO")
    except Exception as exc:
        raise SchemaError(f"cannot fingerprint schema: {exc}") from exc
    # fastavro renders the 64-bit Rabin value as its little-endian bytes in hex
    # ("int" -> 8f5c393f1ad57572 for 0x7275D51A3F395C8F), which is the wire order.
    return bytes.fromhex(hex_digest)


def strip_logical_types(schema: Any) -> Any:
    """A copy of ``schema`` without ``logicalType`` annotations.

    The binary encoding and the Parsing Canonical Form (so the fingerprint) are
    the same; fastavro then skips the per-value datetime/UUID conversions, which
    is what makes the raw-dict fast path fast (timestamps stay int microseconds,
    UUIDs stay strings).
    """
    if isinstance(schema, list):
        return [strip_logical_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if set(out) == {"type"} and isinstance(out["type"], str):
        return out["type"]
    return out


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One released schema of one event type.

    ``parsed`` resolves logical types (datetime, UUID); ``parsed_raw`` is the same
    schema without them (ints and strings), used by the fast paths.
    """

    event_type: str
    version: int
    path: Path
    schema: Mapping[str, Any]
    fingerprint: bytes
    parsed: Any
    parsed_raw: Any

    @property
    def record_name(self) -> str:
        """Full Avro name of the record, e.g. ``fractalops.events.RunStarted``."""
        return str(self.schema["name"])

    @property
    def label(self) -> str:
        """``v<N>/<file name>``: how messages name this schema."""
        return f"v{self.version}/{self.path.name}"


@dataclass(frozen=True, slots=True)
class SchemaCatalog:
    """Every released schema, indexed by fingerprint and by event type. Immutable.

    Build it once with :func:`load_catalog` and pass it to whoever needs it.
    """

    root: Path
    by_fingerprint: Mapping[bytes, SchemaVersion]
    history: Mapping[str, tuple[SchemaVersion, ...]]

    def current(self, event_type: str) -> SchemaVersion:
        """Newest schema of ``event_type``; raises ``SchemaError`` if unknown."""
        try:
            return self.history[event_type][-1]
        except KeyError:
            raise SchemaError(f"unknown event type {event_type!r}") from None

    def versions(self, event_type: str) -> tuple[SchemaVersion, ...]:
        """Every schema of ``event_type``, oldest first; raises ``SchemaError`` if unknown."""
        try:
            return self.history[event_type]
        except KeyError:
            raise SchemaError(f"unknown event type {event_type!r}") from None

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type the catalog knows, sorted."""
        return tuple(sorted(self.history))


def _event_type_of(schema: Mapping[str, Any], path: Path) -> str:
    for field in schema.get("fields", ()):
        if field.get("name") == "event_type" and isinstance(field.get("default"), str):
            return str(field["default"])
    raise SchemaError(f"{path}: no 'event_type' field with a string default")


def _load_version(path: Path, version: int) -> SchemaVersion:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        parsed = parse_schema(schema)
        parsed_raw = parse_schema(strip_logical_types(schema))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path}: cannot load schema: {exc}") from exc
    except Exception as exc:  # fastavro raises its own SchemaParseException and friends
        raise SchemaError(f"{path}: invalid Avro schema: {exc}") from exc
    return SchemaVersion(
        event_type=_event_type_of(schema, path),
        version=version,
        path=path,
        schema=MappingProxyType(schema),
        fingerprint=avro_fingerprint(schema),
        parsed=parsed,
        parsed_raw=parsed_raw,
    )


def load_catalog(root: Path = AVRO_ROOT) -> SchemaCatalog:
    """Read every ``v<N>/*.avsc`` under ``root`` into a :class:`SchemaCatalog`.

    Pure apart from reading files; call it once at start-up. Raises
    :class:`SchemaError` on an unreadable or invalid schema, a fingerprint
    collision, or an event type defined twice in one version.
    """
    versions: list[SchemaVersion] = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        match = _VERSION_DIR.fullmatch(directory.name)
        if match is None:
            continue
        for path in sorted(directory.glob("*.avsc")):
            versions.append(_load_version(path, int(match.group("n"))))
    if not versions:
        raise SchemaError(f"{root}: no schemas under v<N>/*.avsc")
    by_fingerprint: dict[bytes, SchemaVersion] = {}
    history: dict[str, list[SchemaVersion]] = {}
    for sv in sorted(versions, key=lambda v: (v.event_type, v.version)):
        other = by_fingerprint.get(sv.fingerprint)
        if other is not None:
            raise SchemaError(f"{sv.label} and {other.label} have the same fingerprint")
        previous = history.setdefault(sv.event_type, [])
        if previous and previous[-1].version == sv.version:
            raise SchemaError(f"{sv.label}: {sv.event_type!r} defined twice in v{sv.version}")
        by_fingerprint[sv.fingerprint] = sv
        previous.append(sv)
    return SchemaCatalog(
        root=root,
        by_fingerprint=MappingProxyType(by_fingerprint),
        history=MappingProxyType({k: tuple(v) for k, v in history.items()}),
    )
