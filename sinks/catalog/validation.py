"""``mcp.validate()``'s verdict from checks **compiled once per schema**.

DataHub's ``MetadataChangeProposalWrapper.validate()`` asks avrogen's
``AvroJsonConverter.validate`` about the aspect, then builds a
``MetadataChangeProposalClass`` around the MCP's envelope and asks it again.
avrogen walks the Avro schema objects at every call (property look-ups, a list of
enum symbols rebuilt per value, ``avro.io.validate``'s node queue for every
primitive): ~27 µs per aspect, more than the catalog spends on anything else.
:func:`valid_mcp` gives the same verdict, for the same reasons, from closures built
once per schema that follow avrogen's ``validate`` branch by branch:

- record: a ``dict`` is read with each field's default, a ``DictWrapper`` with
  ``get`` (no default), anything else is invalid; fields in schema order, first
  failure wins;
- array: a ``list`` whose items are all valid; map: a ``dict`` with ``str`` keys
  whose values are all checked (no short cut, like avrogen's list comprehension);
- union: a ``DictWrapper`` is checked against the branch of its own record name
  (a branch without a name before it raises, as in avrogen); a one-key ``dict``
  against the branch of that name; then any branch that accepts the value;
- ``null`` and ``string`` inline; ``bytes`` accepts a ``str``; every other leaf
  (enum, fixed, numbers, boolean, logical types) is the schema's own ``validate``
  (what ``avro.io.validate`` asks of a leaf), with avro's own predicate inlined for
  plain primitives and a set for enum symbols;
- the envelope: the ``MetadataChangeProposalClass`` that ``mcp.validate()`` builds
  only holds the MCP's own attributes (and ``None`` for both aspects), so they are
  checked where they are, against that record's compiled fields.

Short cuts taken only where they cannot change a verdict or an exception: ``None``
in a union is decided by its null branch; a ``str`` in a union whose branches all
take any ``str`` (or none does) is decided at once; a map whose value check cannot
raise stops at its first failure.

Whatever is not covered goes to DataHub's own code, never to a guess: an MCP or
aspect class that overrides ``validate`` (or avrogen's converter) is asked itself,
as is everything while avrogen's global converter uses logical types or tuple
unions; a union value of a class without a schema, or one that avrogen would raise
on, is handed to avrogen's ``validate`` at that node (validation is a function of
the node alone, so that is exact). :func:`valid_mcp` raises what ``mcp.validate()``
would raise. ``tests/unit/test_catalog_validation.py`` compares the verdicts (and
exceptions) on every aspect the catalog writes and every DataHub aspect class, valid
and broken at every position (wrong types, missing required fields, bad enum
symbols, bad nested records, one-key union dicts, records given as dicts), and on
broken envelopes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from itertools import repeat
from operator import attrgetter
from typing import Any, Final

from avro import io as avro_io
from avro import schema as avro_schema
from avrogen.avrojson import get_global_json_converter
from avrogen.dict_wrapper import DictWrapper
from datahub.emitter.mcp import MetadataChangeProposalWrapper
from datahub.metadata.schema_classes import MetadataChangeProposalClass

__all__ = ["valid_aspect", "valid_mcp"]

Check = Callable[[Any], bool]

_compiled: dict[int, tuple[Any, Check]] = {}
"""Check per schema object (kept alive beside it), complete; filled on first use. The
schemas are immutable generated code: a cache, not state."""
_pending: dict[int, tuple[Any, Check]] = {}
"""Checks being compiled (a record registers itself before its fields, which may lead
back to it); published to :data:`_compiled` once complete. Used under :data:`_lock`."""
_lock = threading.Lock()

_RECORDS: Final = frozenset({"record", "error", "request"})
_UNIONS: Final = frozenset({"union", "error_union"})
_DW_GET: Final = DictWrapper.get
_DW_VALIDATE: Final = DictWrapper.validate
_DW_CONVERTER: Final = DictWrapper.__dict__["_get_json_converter"].__func__
_MCP_VALIDATE: Final = MetadataChangeProposalWrapper.validate
_MCP_ENVELOPE: Final = MetadataChangeProposalWrapper._make_mcp_without_aspects
_NO_NAME: Final = object()
_NO_STR: Final = frozenset(
    {"null", "record", "error", "array", "map", "int", "long", "float", "double", "boolean"}
)
"""Types whose check rejects a ``str`` without raising (by type name: logical types
on them check ``isinstance`` too)."""


def valid_mcp(mcp: MetadataChangeProposalWrapper) -> bool:
    """``mcp.validate()``: the same verdict, or the same exception."""
    envelope = _envelopes.get(type(mcp))
    if envelope is None:
        envelope = _envelopes[type(mcp)] = _envelope_of(type(mcp))
    if envelope is _ASK_DATAHUB or not _plain_converter():
        return bool(mcp.validate())
    urn, key = mcp.entityUrn, mcp.entityKeyAspect
    if urn is None and key is None:
        return False
    if urn is not None and key is not None:
        return False
    if key is not None and not valid_aspect(key):
        return False
    if mcp.aspect and not valid_aspect(mcp.aspect):
        return False
    return envelope(mcp)


def valid_aspect(aspect: Any) -> bool:
    """``aspect.validate()``: the same verdict, or the same exception."""
    check = _aspect_checks.get(type(aspect))
    if check is None:
        cls = type(aspect)
        check = _aspect_checks[cls] = _check(cls.RECORD_SCHEMA) if _standard(cls) else _ASK_DATAHUB
    if check is _ASK_DATAHUB or not _plain_converter():
        return bool(aspect.validate())
    return check(aspect)


def _ask_datahub(datum: Any) -> bool:  # pragma: no cover - a marker, never called
    raise AssertionError("ask DataHub's own validate()")


_ASK_DATAHUB: Final[Check] = _ask_datahub
_envelopes: dict[type, Check] = {}
"""Per MCP class, the check of the envelope record ``mcp.validate()`` builds (or
:data:`_ASK_DATAHUB`): a cache of class facts."""
_aspect_checks: dict[type, Check] = {}
"""Per aspect class, its record check (or :data:`_ASK_DATAHUB`): a cache of class facts."""


def _envelope_of(cls: type) -> Check:
    """``cls._make_mcp_without_aspects().validate()`` without building that record: its
    constructor stores the MCP's own attributes (and ``None`` for the two aspects)."""
    if (
        getattr(cls, "validate", None) is not _MCP_VALIDATE
        or getattr(cls, "_make_mcp_without_aspects", None) is not _MCP_ENVELOPE
        or not _standard(MetadataChangeProposalClass)
    ):
        return _ASK_DATAHUB
    schema = MetadataChangeProposalClass.RECORD_SCHEMA
    attributes = {f.name for f in dataclasses.fields(MetadataChangeProposalWrapper)}
    fields: list[tuple[Callable[[Any], Any], Check]] = []
    for field in schema.fields:
        check = _check(field.type)
        if field.name in _LEFT_NONE:
            if not check(None):
                return _ASK_DATAHUB  # not DataHub's envelope as this module knows it
            continue  # always valid: no verdict, no exception
        if field.name not in attributes:
            return _ASK_DATAHUB
        fields.append((attrgetter(field.name), check))

    def check_envelope(mcp: Any) -> bool:
        for read, check in fields:  # noqa: SIM110 - schema order, first failure wins
            if not check(read(mcp)):
                return False
        return True

    return check_envelope


_LEFT_NONE: Final = frozenset({"entityKeyAspect", "aspect"})
"""The envelope fields ``_make_mcp_without_aspects()`` leaves ``None``."""


def _standard(cls: type) -> bool:
    """``cls().validate()`` is ``DictWrapper.validate`` with avrogen's global converter."""
    return (
        issubclass(cls, DictWrapper)
        and cls.validate is _DW_VALIDATE
        and getattr(getattr(cls, "_get_json_converter", None), "__func__", None) is _DW_CONVERTER
        and isinstance(getattr(cls, "RECORD_SCHEMA", None), avro_schema.RecordSchema)
    )


def _plain_converter() -> bool:
    converter = get_global_json_converter()
    return not converter.use_logical_types and not converter.fastavro


def _check(schema: Any) -> Check:
    hit = _compiled.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    with _lock:
        try:
            check = _compile(schema)
            _compiled.update(_pending)  # only now: every check in it is complete
            return check
        finally:
            _pending.clear()


def _compile(schema: Any) -> Check:
    hit = _compiled.get(id(schema)) or _pending.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    kind = schema.type
    if kind in _RECORDS:
        return _record(schema)  # registers itself first: schemas may be recursive
    if kind == "array":
        check = _array(_compile(schema.items))
    elif kind == "map":
        check = _map(_compile(schema.values))
    elif kind in _UNIONS:
        check = _union(schema)
    else:
        check = _leaf(schema)
    _pending[id(schema)] = (schema, check)
    return check


def _avrogen(schema: Any) -> Check:
    """avrogen's own check of one node (for what is not compiled)."""
    converter = get_global_json_converter()
    return lambda datum: converter.validate(schema, datum)


# --- leaves --------------------------------------------------------------------------------


def _is_none(datum: Any) -> bool:
    return datum is None


def _is_str(datum: Any) -> bool:
    return isinstance(datum, str)


def _bytes(datum: Any) -> bool:
    return isinstance(datum, (str, bytes))  # avrogen takes a str for bytes (JSON)


_NEVER_RAISE: Final[frozenset[Check]] = frozenset({_is_none, _is_str, _bytes})
"""Checks that are one ``isinstance`` or identity test: they cannot raise."""


def _leaf(schema: Any) -> Check:  # noqa: PLR0911 - one per leaf kind
    kind = schema.type
    if kind == "null":
        return _is_none
    if kind == "string":  # avrogen decides by type name, logical types included
        return _is_str
    if not bool(schema):  # avro.io.validate reads a leaf's verdict as a truth value
        return _avrogen(schema)
    if type(schema) is avro_schema.PrimitiveSchema:
        if kind == "bytes":
            return _bytes
        predicate = avro_schema.PrimitiveSchema._validators.get(kind)
        if predicate is not None:
            return predicate
    if type(schema) is avro_schema.EnumSchema:
        return _enum(list(schema.symbols))
    if kind == "bytes":
        return lambda datum: isinstance(datum, str) or avro_io.validate(schema, datum)
    return lambda datum: avro_io.validate(schema, datum)


def _enum(symbols: list[str]) -> Check:
    known = frozenset(symbols)

    def check(datum: Any) -> bool:
        if type(datum) is str:
            return datum in known
        return datum in symbols  # whatever equality a str-like value defines

    return check


# --- containers ---------------------------------------------------------------------------


def _array(items: Check) -> Check:
    def check(datum: Any) -> bool:
        return isinstance(datum, list) and all(items(item) for item in datum)

    return check


def _map(values: Check) -> Check:
    if values in _NEVER_RAISE:
        # avrogen checks every value even after a failure; with a check that cannot
        # raise, stopping at the first one gives the same verdict
        def check_safe(datum: Any) -> bool:
            return (
                isinstance(datum, dict)
                and all(map(isinstance, datum, repeat(str)))
                and all(map(values, datum.values()))
            )

        return check_safe

    def check(datum: Any) -> bool:
        return (
            isinstance(datum, dict)
            and False not in [isinstance(key, str) for key in datum]
            and False not in [values(value) for value in datum.values()]
        )

    return check


def _record(schema: Any) -> Check:
    fields: list[tuple[str, Check]] = []
    defaults: list[tuple[str, bool, Any, Check]] = []

    def check(datum: Any) -> bool:
        if isinstance(datum, DictWrapper):
            get = datum._inner_dict.get if type(datum).get is _DW_GET else datum.get
            # a loop, not all(generator): the hottest line of the store's validation
            for name, field in fields:  # noqa: SIM110
                if not field(get(name)):
                    return False
            return True
        if isinstance(datum, dict):
            for name, has_default, default, field in defaults:
                value = datum.get(name, default) if has_default else datum.get(name)
                if not field(value):
                    return False
            return True
        return False

    _pending[id(schema)] = (schema, check)
    for field in schema.fields:
        compiled = _compile(field.type)
        fields.append((field.name, compiled))
        defaults.append((field.name, field.has_default, field.default, compiled))
    return check


def _union(schema: Any) -> Check:
    branches = list(schema.schemas)
    checks = [_compile(branch) for branch in branches]
    has_null = any(branch.type == "null" for branch in branches)
    by_name: dict[object, int] = {}
    unnamed = len(branches)  # avrogen reads .fullname of each branch until one matches
    for at, branch in enumerate(branches):
        name = getattr(branch, "fullname", _NO_NAME)
        if name is _NO_NAME:
            unnamed = min(unnamed, at)
        else:
            by_name.setdefault(name, at)
    keyed = [(_json_name(branch), check) for branch, check in zip(branches, checks, strict=True)]
    fallback = _avrogen(schema)
    missing = len(branches)
    # None is accepted by the null branch only, and no branch rejects it by raising;
    # any other value is never accepted by the null branch (which cannot raise)
    others = [
        check for branch, check in zip(branches, checks, strict=True) if branch.type != "null"
    ]
    single = others[0] if len(others) == 1 else None
    # a str goes to the branches (no union name or record class to match); some branch
    # takes any str, or none takes one and none raises on one (enums depend on it)
    takes_str = any(check in (_is_str, _bytes) for check in others)
    never_str = all(branch.type in _NO_STR for branch in branches)
    str_verdict = True if takes_str else False if never_str else None

    def check(datum: Any) -> bool:  # noqa: PLR0911 - one per avrogen outcome
        if datum is None:
            return has_null
        if str_verdict is not None and type(datum) is str:
            return str_verdict
        if isinstance(datum, DictWrapper):
            record = getattr(type(datum), "RECORD_SCHEMA", None)
            if record is None:
                return fallback(datum)  # avrogen raises
            at = by_name.get(record.fullname, missing)
            if unnamed < at:
                return fallback(datum)  # avrogen raises on the unnamed branch first
            if at < missing:
                return checks[at](datum)
        elif isinstance(datum, dict) and len(datum) == 1:
            ((name, value),) = datum.items()
            for branch_name, branch in keyed:
                if branch_name == name and branch(value):
                    return True
        if single is not None:
            return single(datum)
        return any(branch(datum) for branch in others)

    return check


def _json_name(schema: Any) -> str:
    """A union branch's name as avrogen matches a one-key dict against it."""
    if isinstance(schema, avro_schema.NamedSchema):
        return str(schema.fullname).lstrip(".")
    return str(schema.type)
