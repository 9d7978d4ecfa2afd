"""How an event schema looks to ClickHouse: column types and the payload expression.

ClickHouse's own Avro reader decodes the facts (``INSERT … FORMAT Avro``); the
landing table of an event type has one column per field of the type's current
Avro schema, typed so that the reader's mapping keeps every value as the Python
codec sees it (``EventCodec.decode_record``):

=====================  =========================  =====================================
Avro                   ClickHouse column          why
=====================  =========================  =====================================
string (uuid too)      String                     the bytes as written
long timestamp-micros  Int64                      int microseconds, as the codec reads it
int / long             Int32 / Int64
boolean                Bool
enum                   String                     the symbol
record                 Tuple(name T, …)           named, in field order
["null", T]            Nullable(T)
array<T> / map<T>      Array(T) / Map(String, T)
=====================  =========================  =====================================

The ``payload`` column of ``proof_facts`` is the JSON of the event's own fields
(the envelope left out) exactly as ``orjson.dumps(…, OPT_SORT_KEYS)`` writes the
decoded record: keys sorted at every level, timestamps as int microseconds.
:func:`payload_expr` builds the ClickHouse expression that produces the same
text; it is evaluated with the settings in :data:`JSON_SETTINGS`. Two spellings
differ for values the producer never sends (control characters are escaped with
upper-case hex, U+2028/U+2029 are escaped): both are the same JSON value.

Everything here is pure and derived from the ``.avsc`` files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ENVELOPE",
    "JSON_SETTINGS",
    "Column",
    "columns_of",
    "ident",
    "payload_expr",
    "quote",
]

ENVELOPE = frozenset(
    {
        "event_id",
        "event_type",
        "occurred_at",
        "producer",
        "actor",
        "subject",
        "causation_id",
        "correlation_id",
        "trace",
        "attributes",
    }
)
"""Fields every event carries; the payload is everything else."""

JSON_SETTINGS: Mapping[str, int] = {
    "output_format_json_escape_forward_slashes": 0,
    "output_format_json_quote_64bit_integers": 0,
    "output_format_json_named_tuples_as_objects": 1,
}
"""Settings under which ``toJSONString`` writes what orjson writes."""

_PRIMITIVES = {
    "string": "String",
    "int": "Int32",
    "long": "Int64",
    "boolean": "Bool",
    "bytes": "String",
    "float": "Float32",
    "double": "Float64",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One landing column: name, ClickHouse type and its default (SQL) or None."""

    name: str
    type: str
    default: str | None = None


def ident(name: str) -> str:
    """A backquoted ClickHouse identifier. Pure."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote(value: str) -> str:
    """A single-quoted ClickHouse string literal. Pure."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Names:
    """Named Avro types seen so far while walking one schema (full names)."""

    def __init__(self) -> None:
        self.types: dict[str, Any] = {}

    def resolve(self, avro: Any, namespace: str) -> Any:
        if isinstance(avro, str) and avro not in _PRIMITIVES and avro != "null":
            full = avro if "." in avro else f"{namespace}.{avro}"
            return self.types.get(full, self.types.get(avro, avro))
        if isinstance(avro, dict) and avro.get("type") in ("record", "enum", "fixed"):
            name = str(avro["name"])
            full = name if "." in name else f"{namespace}.{name}"
            self.types[full] = avro
        return avro


def _namespace(avro: Mapping[str, Any], outer: str) -> str:
    name = str(avro.get("name", ""))
    return name.rpartition(".")[0] if "." in name else str(avro.get("namespace", outer))


def _ch_type(avro: Any, names: _Names, namespace: str) -> str:  # noqa: PLR0911 - one per Avro type
    avro = names.resolve(avro, namespace)
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1:
            raise ValueError(f"unsupported union {avro!r}: only [null, T]")
        inner = _ch_type(branches[0], names, namespace)
        return inner if len(branches) == len(avro) else f"Nullable({inner})"
    if isinstance(avro, str):
        return _PRIMITIVES[avro]
    kind = avro["type"]
    if kind == "record":
        inner_ns = _namespace(avro, namespace)
        fields = ", ".join(
            f"{ident(f['name'])} {_ch_type(f['type'], names, inner_ns)}" for f in avro["fields"]
        )
        return f"Tuple({fields})"
    if kind == "enum":
        return "String"
    if kind == "array":
        return f"Array({_ch_type(avro['items'], names, namespace)})"
    if kind == "map":
        return f"Map(String, {_ch_type(avro['values'], names, namespace)})"
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]  # {"type": "long", "logicalType": …}: the raw value
    return _ch_type(kind, names, namespace)


def _default_sql(value: Any, ch_type: str) -> str | None:  # noqa: PLR0911 - one per JSON type
    if value is None:
        return "NULL" if ch_type.startswith("Nullable") else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, list) and not value:
        return "[]"
    if isinstance(value, dict) and not value:
        return "map()"
    return None


def columns_of(schema: Mapping[str, Any]) -> list[Column]:
    """The landing columns of a record schema, in field order. Pure.

    Raises ``ValueError`` for a schema shape the facts plane cannot land (a union
    of several non-null types).
    """
    names = _Names()
    namespace = _namespace(schema, "")
    out = []
    for field in schema["fields"]:
        ch = _ch_type(field["type"], names, namespace)
        out.append(Column(field["name"], ch, _default_sql(field.get("default"), ch)))
    return out


def payload_expr(schema: Mapping[str, Any]) -> str:
    """The ClickHouse expression of the ``payload`` column for events of ``schema``:
    the JSON object of its non-envelope fields, keys sorted at every level. Pure."""
    names = _Names()
    namespace = _namespace(schema, "")
    fields = [(f["name"], f["type"]) for f in schema["fields"] if f["name"] not in ENVELOPE]
    for f in schema["fields"]:  # register named types declared inside the envelope
        names.resolve(f["type"], namespace)
        _ch_type(f["type"], names, namespace)
    return f"toJSONString({_object(fields, [ident(n) for n, _ in fields], names, namespace)})"


def _object(
    fields: Sequence[tuple[str, Any]], exprs: Sequence[str], names: _Names, namespace: str
) -> str:
    """A named tuple of ``fields`` (values ``exprs``) with its elements sorted by name,
    which ``toJSONString`` writes as an object with sorted keys."""
    if not fields:
        return "CAST(tuple(), 'Tuple()')"
    order = sorted(range(len(fields)), key=lambda i: fields[i][0])
    values = [_sorted_value(fields[i][1], exprs[i], names, namespace) for i in order]
    types = [f"{ident(fields[i][0])} {_json_type(fields[i][1], names, namespace)}" for i in order]
    return f"CAST(tuple({', '.join(values)}), {quote('Tuple(' + ', '.join(types) + ')')})"


def _sorted_value(avro: Any, expr: str, names: _Names, namespace: str, depth: int = 0) -> str:
    """``expr`` with every nested record's fields reordered by name (``expr`` itself
    when nothing inside needs reordering)."""
    avro = names.resolve(avro, namespace)
    if isinstance(avro, list):
        branch = next(b for b in avro if b != "null")
        bare = f"assumeNotNull({expr})"
        inner = _sorted_value(branch, bare, names, namespace, depth)
        return expr if inner == bare else f"if(isNull({expr}), NULL, {inner})"
    if isinstance(avro, dict) and avro.get("type") == "record":
        ns = _namespace(avro, namespace)
        fields = [(f["name"], f["type"]) for f in avro["fields"]]
        parts = [f"tupleElement({expr}, {quote(name)})" for name, _ in fields]
        return _object(fields, parts, names, ns)
    if isinstance(avro, dict) and avro.get("type") == "array":
        item = f"item{depth}"
        inner = _sorted_value(avro["items"], item, names, namespace, depth + 1)
        return expr if inner == item else f"arrayMap({item} -> {inner}, {expr})"
    if isinstance(avro, dict) and avro.get("type") == "map":
        return f"mapSort({expr})"  # orjson sorts map keys too
    return expr


def _json_type(avro: Any, names: _Names, namespace: str) -> str:
    """The ClickHouse type of a value inside the payload tuple (records sorted)."""
    avro = names.resolve(avro, namespace)
    if isinstance(avro, list):
        branch = next(b for b in avro if b != "null")
        inner = _json_type(branch, names, namespace)
        return inner if "null" not in avro else f"Nullable({inner})"
    if isinstance(avro, dict) and avro.get("type") == "record":
        ns = _namespace(avro, namespace)
        fields = sorted(avro["fields"], key=lambda f: f["name"])
        inner = ", ".join(f"{ident(f['name'])} {_json_type(f['type'], names, ns)}" for f in fields)
        return f"Tuple({inner})"
    if isinstance(avro, dict) and avro.get("type") == "array":
        return f"Array({_json_type(avro['items'], names, namespace)})"
    if isinstance(avro, dict) and avro.get("type") == "map":
        return f"Map(String, {_json_type(avro['values'], names, namespace)})"
    return _ch_type(avro, names, namespace)
