"""A compiled Avro writer for event records: the bytes fastavro writes, in less time.

fastavro's ``schemaless_writer`` interprets the schema for every record: for
each field it looks the type up, dispatches on its name, and for a union
validates the value against each branch. Our schemas are fixed, small and use
few Avro types, so :func:`compile_writer` turns one schema into the Python source
of a function that writes a raw record (``schemas.records.to_record``'s output:
UUIDs as strings, timestamps as int microseconds, enum members, nested dicts) with
every field's encoding spelled out, and compiles it once.

Contract:

* For every record the writer accepts it returns exactly the bytes of
  ``header + fastavro.schemaless_writer(schema, record)`` (``header`` is the
  single-object marker and fingerprint). A property test holds it to that on
  generated events of every type.
* It accepts only what it can write exactly: strings that are ``str``, integers
  that are ``int`` (not ``bool``) within 64 bits, ``True``/``False``, enum
  symbols, ``dict`` records and maps, ``list`` arrays, ``None`` for the null
  branch. Anything else raises :class:`Unsupported` (or the ``KeyError``/
  ``TypeError`` of a missing field or an odd value), and the caller hands the
  record to fastavro, which writes it or names what is wrong. So the writer is
  never the judge of validity, only a shortcut for the common case.

Supported schema types: record, enum, string, int, long, boolean, map, array,
and unions of ``null`` with one of them (what ``schemas/avro`` uses); a schema
with anything else gets no writer (:func:`compile_writer` returns None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FALLBACK_ERRORS", "RecordWriter", "Unsupported", "compile_writer"]

RecordWriter = Callable[[Mapping[str, Any]], bytes]
"""Writes one raw record: the header, then its Avro body."""


class Unsupported(Exception):  # noqa: N818 - a signal to fall back, not an error to report
    """A value the compiled writer does not write itself: use fastavro."""


FALLBACK_ERRORS = (Unsupported, KeyError, TypeError, AttributeError, ValueError, OverflowError)
"""What a compiled writer raises for a record it leaves to fastavro."""

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_TABLE = 4096


def zigzag_varint(n: int) -> bytes:
    """Avro's ``long`` encoding of ``n`` (zig-zag, then base-128 varint)."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Pre-encoded longs 0.._TABLE-1: string lengths and small counts are a table lookup.
_SMALL = tuple(zigzag_varint(n) for n in range(_TABLE))


class _Source:
    """Python source of one writer, built field by field."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._names = 0

    def name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def constant(self, value: Any, prefix: str = "k") -> str:
        name = self.name(prefix)
        self.constants[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _long(src: _Source, depth: int, value: str) -> None:
    src.emit(depth, f"if type({value}) is not int or not {_INT64_MIN} <= {value} <= {_INT64_MAX}:")
    src.emit(depth + 1, "raise Unsupported")
    src.emit(depth, f"a(SMALL[{value}] if 0 <= {value} < {_TABLE} else varint({value}))")


def _string(src: _Source, depth: int, value: str) -> None:
    src.emit(depth, f"if type({value}) is not str:")
    src.emit(depth + 1, "raise Unsupported")
    encoded = src.name("b")
    src.emit(depth, f"{encoded} = {value}.encode()")
    src.emit(depth, f"n = len({encoded})")
    src.emit(depth, "a(SMALL[n] if n < TABLE else varint(n))")
    src.emit(depth, f"a({encoded})")


def _value(src: _Source, depth: int, schema: Any, value: str, named: dict[str, Any]) -> bool:
    """Emit the code writing ``value`` (a local name) of ``schema``; False when
    the schema uses a type this writer does not support."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return _union(src, depth, schema, value, named)
    kind = schema["type"] if isinstance(schema, dict) else schema
    if kind in ("long", "int"):
        _long(src, depth, value)
    elif kind == "string":
        _string(src, depth, value)
    elif kind == "boolean":
        src.emit(depth, f"if {value} is True:")
        src.emit(depth + 1, "a(b'\\x01')")
        src.emit(depth, f"elif {value} is False:")
        src.emit(depth + 1, "a(b'\\x00')")
        src.emit(depth, "else:")
        src.emit(depth + 1, "raise Unsupported")
    elif kind == "enum":
        named[schema["name"]] = schema
        symbols = src.constant(
            {s: SMALL for s, SMALL in zip(schema["symbols"], _SMALL, strict=False)}
        )
        encoded = src.name("e")
        src.emit(depth, f"{encoded} = {symbols}.get({value})")
        src.emit(depth, f"if {encoded} is None:")
        src.emit(depth + 1, "raise Unsupported")
        src.emit(depth, f"a({encoded})")
    elif kind == "record":
        named[schema["name"]] = schema
        src.emit(depth, f"if type({value}) is not dict:")
        src.emit(depth + 1, "raise Unsupported")
        for field in schema["fields"]:
            item = src.name("v")
            src.emit(depth, f"{item} = {value}[{field['name']!r}]")
            if not _value(src, depth, field["type"], item, named):
                return False
    elif kind in ("map", "array"):
        return _container(src, depth, schema, value, named)
    else:
        return False
    return True


def _union(
    src: _Source, depth: int, branches: list[Any], value: str, named: dict[str, Any]
) -> bool:
    if len(branches) != 2 or branches[0] != "null":
        return False
    src.emit(depth, f"if {value} is None:")
    src.emit(depth + 1, "a(b'\\x00')")
    src.emit(depth, "else:")
    src.emit(depth + 1, "a(b'\\x02')")
    return _value(src, depth + 1, branches[1], value, named)


def _container(src: _Source, depth: int, schema: Any, value: str, named: dict[str, Any]) -> bool:
    is_map = schema["type"] == "map"
    src.emit(depth, f"if type({value}) is not {'dict' if is_map else 'list'}:")
    src.emit(depth + 1, "raise Unsupported")
    src.emit(depth, f"if {value}:")
    src.emit(depth + 1, f"a(varint(len({value})))")
    item = src.name("i")
    if is_map:
        key = src.name("m")
        src.emit(depth + 1, f"for {key}, {item} in {value}.items():")
        _string(src, depth + 2, key)
        supported = _value(src, depth + 2, schema["values"], item, named)
    else:
        src.emit(depth + 1, f"for {item} in {value}:")
        supported = _value(src, depth + 2, schema["items"], item, named)
    src.emit(depth, "a(b'\\x00')")
    return supported


def compile_writer(schema: Mapping[str, Any], header: bytes) -> RecordWriter | None:
    """A writer for records of the record ``schema`` (fastavro-parsed or plain JSON;
    logical types are ignored: the raw record already holds their Avro form), each
    prefixed with ``header``. None when the schema uses an unsupported type."""
    src = _Source()
    src.emit(0, "def write(r):")
    src.emit(1, "parts = [HEADER]")
    src.emit(1, "a = parts.append")
    if not _value(src, 1, dict(schema), "r", {}):
        return None
    src.emit(1, "return b''.join(parts)")
    namespace: dict[str, Any] = {
        **src.constants,
        "HEADER": header,
        "SMALL": _SMALL,
        "TABLE": _TABLE,
        "Unsupported": Unsupported,
        "varint": zigzag_varint,
    }
    code = "\n".join(src.lines)
    exec(compile(code, f"<avro writer {schema.get('name')}>", "exec"), namespace)  # noqa: S102 - our own generated source
    writer: RecordWriter = namespace["write"]
    writer.__doc__ = code
    return writer
