"""The compiled validation gives ``mcp.validate()``'s verdict (or its exception) on
every aspect the catalog writes, on a valid instance of every DataHub aspect class,
and on those instances broken at every position down to nested records: wrong types,
missing required fields, bad enum symbols, bad nested records, one-key union dicts,
records given as dicts; and on broken envelopes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("datahub")

from avrogen.avrojson import get_global_json_converter
from avrogen.dict_wrapper import DictWrapper
from datahub.emitter.aspect import ASPECT_MAP
from datahub.metadata import schema_classes as dh

from schemas.catalog import load_catalog
from sinks.catalog.context import Mcp
from sinks.catalog.projection import CatalogProjection
from sinks.catalog.validation import valid_aspect, valid_mcp
from tests.contract.store_contract import batch_for, records_of
from tests.unit.test_catalog_projection import knowledge_and_lineage
from tests.workload_batch import workload

URN = "urn:li:dataset:(urn:li:dataPlatform:a,b,PROD)"
_CLASSES: dict[str, type] = get_global_json_converter().schema_types


def verdict(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "verdict", bool(call())
    except Exception as exc:  # the same exception type is the same verdict
        return "raises", type(exc)


def assert_same(mcp: Mcp) -> bool:
    expected = verdict(mcp.validate)
    assert verdict(lambda: valid_mcp(mcp)) == expected, mcp
    if mcp.aspect is not None:
        aspect = mcp.aspect

        def own() -> Any:  # an aspect may have no validate at all
            return aspect.validate()

        assert verdict(lambda: valid_aspect(aspect)) == verdict(own)
    return expected == ("verdict", True)


# --- valid values for any schema ---------------------------------------------------------


def valid_value(schema: Any, depth: int = 0, branch: int = 0) -> Any:
    """A value ``schema`` accepts (shallow past ``depth`` 4: recursive schemas), with
    the ``branch``-th non-null member of every union (0 the first, -1 the last)."""
    kind = schema.type
    if kind == "record":
        cls = _CLASSES[schema.fullname]
        obj = cls._construct_with_defaults()  # type: ignore[attr-defined]
        for field in schema.fields:
            obj._inner_dict[field.name] = valid_value(field.type, depth + 1, branch)
        return obj
    if kind == "array":
        return [] if depth > 4 else [valid_value(schema.items, depth + 1, branch)]
    if kind == "map":
        return {} if depth > 4 else {"k": valid_value(schema.values, depth + 1, branch)}
    if kind == "union":
        branches = [b for b in schema.schemas if b.type != "null"]
        if depth > 4 and len(branches) < len(schema.schemas):
            return None
        return valid_value(branches[branch], depth + 1, branch)
    if kind == "enum":
        return schema.symbols[0]
    if kind == "fixed":
        return b"\0" * schema.size
    return {
        "null": None,
        "string": "s",
        "bytes": b"b",
        "boolean": True,
        "int": 1,
        "long": 2**40,
        "float": 1.5,
        "double": 2.5,
    }[kind]


def wrong_values(schema: Any) -> list[Any]:
    """Values to put where ``schema`` is expected: mostly wrong, some right in another
    shape (a str for bytes, a record as a dict, a union member as a one-key dict)."""
    values: list[Any] = [
        None,
        object(),
        7,
        2**31,
        2**63,
        1.5,
        True,
        "NOT_A_SYMBOL",
        b"raw",
        [],
        [object()],
        {},
        {"k": object()},
        {1: "v"},
        dh.StatusClass(removed=False),
        dh.AuditStampClass(time=1, actor="urn:li:corpuser:a"),
    ]
    if schema.type == "union":
        for branch in schema.schemas:
            name = branch.fullname if hasattr(branch, "fullname") else branch.type
            values += [{name.lstrip("."): valid_value(branch, 5)}, {name: object()}]
    if schema.type == "record":
        as_dict = {f.name: valid_value(f.type, 5) for f in schema.fields}
        values += [as_dict, dict(list(as_dict.items())[:-1])]
    if schema.type == "array":
        values += [[valid_value(schema.items, 5), object()], (valid_value(schema.items, 5),)]
    if schema.type == "map":
        values += [{"k": valid_value(schema.values, 5), "j": object()}]
    return values


def positions(obj: Any, schema: Any, depth: int = 0) -> Iterator[tuple[Any, Any, Any]]:
    """``(container, key, schema)`` of every field, item and map value down to ``depth`` 3."""
    if depth > 3:
        return
    if schema.type == "union":
        for branch in schema.schemas:
            if branch.type == {DictWrapper: "record", list: "array", dict: "map"}.get(
                DictWrapper if isinstance(obj, DictWrapper) else type(obj)
            ):
                yield from positions(obj, branch, depth)
                return
    elif schema.type == "record":
        for field in schema.fields:
            yield obj._inner_dict, field.name, field.type
            yield from positions(obj._inner_dict.get(field.name), field.type, depth + 1)
    elif schema.type == "array" and obj:
        yield obj, 0, schema.items
        yield from positions(obj[0], schema.items, depth + 1)
    elif schema.type == "map" and obj:
        key = next(iter(obj))
        yield obj, key, schema.values
        yield from positions(obj[key], schema.values, depth + 1)


def broken(aspect: Any) -> Iterator[Any]:
    """``aspect`` wrong at one position at a time (each value in turn, then the field
    deleted), restored after each: consume one before asking for the next."""
    for container, key, schema in list(positions(aspect, aspect.RECORD_SCHEMA)):
        original = container[key] if isinstance(container, list) else container.get(key)
        for value in wrong_values(schema):
            container[key] = value
            yield aspect
        if isinstance(container, dict):
            del container[key]
            yield aspect
        container[key] = original


# --- the verdicts --------------------------------------------------------------------------


def catalog_mcps() -> list[Mcp]:
    projection = CatalogProjection()
    events = [*workload().events, *knowledge_and_lineage()]
    proposals = projection.project(batch_for(projection, records_of(events)))
    proposals += projection.platform(("fractalops.agent-actions.v1",), load_catalog())
    return [p.mcp() for p in proposals]


def test_every_aspect_the_catalog_writes_is_valid_both_ways() -> None:
    mcps = catalog_mcps()
    assert len({m.aspectName for m in mcps}) >= 15
    for mcp in mcps:
        assert assert_same(mcp)


def test_every_datahub_aspect_class_valid_and_with_its_defaults() -> None:
    valid = 0
    for cls in ASPECT_MAP.values():
        assert_same(Mcp(entityUrn=URN, aspect=cls._construct_with_defaults()))
        for branch in (0, -1):
            aspect = valid_value(cls.RECORD_SCHEMA, branch=branch)
            valid += assert_same(Mcp(entityUrn=URN, aspect=aspect))
    assert valid == 2 * len(ASPECT_MAP)


@pytest.mark.parametrize("branch", [0, -1])
@pytest.mark.parametrize("name", sorted(ASPECT_MAP))
def test_every_datahub_aspect_class_broken_everywhere(name: str, branch: int) -> None:
    aspect = valid_value(ASPECT_MAP[name].RECORD_SCHEMA, branch=branch)
    outcomes = [assert_same(Mcp(entityUrn=URN, aspect=b)) for b in broken(aspect)]
    assert not all(outcomes) or not aspect.RECORD_SCHEMA.fields


def test_every_aspect_the_catalog_writes_broken_everywhere() -> None:
    seen: set[str] = set()
    for mcp in catalog_mcps():
        if mcp.aspectName in seen:
            continue
        seen.add(str(mcp.aspectName))
        outcomes = [assert_same(Mcp(entityUrn=mcp.entityUrn, aspect=b)) for b in broken(mcp.aspect)]
        assert outcomes and not all(outcomes), mcp.aspectName


def test_broken_envelopes() -> None:
    def mcp(**changes: Any) -> Mcp:
        out = Mcp(entityUrn=URN, aspect=dh.StatusClass(removed=False))
        for key, value in changes.items():
            setattr(out, key, value)
        return out

    cases = [
        mcp(),
        mcp(entityUrn=None),
        mcp(entityKeyAspect=dh.DatasetKeyClass(platform="p", name="n", origin="PROD")),
        mcp(entityUrn=None, entityKeyAspect=dh.DatasetKeyClass(platform="p", name="n", origin="X")),
        mcp(entityUrn=None, entityKeyAspect=dh.StatusClass(removed=False)),
        mcp(entityUrn=5),
        mcp(entityType=5),
        mcp(changeType="NOT_A_CHANGE"),
        mcp(changeType=dh.ChangeTypeClass.DELETE),
        mcp(aspectName=5),
        mcp(aspect=None),
        mcp(aspect={}),
        mcp(aspect=dh.StatusClass(removed="no")),
        mcp(systemMetadata=dh.SystemMetadataClass(lastObserved=1, properties={"a": "b"})),
        mcp(systemMetadata=dh.SystemMetadataClass(lastObserved="soon")),
        mcp(systemMetadata=dh.StatusClass(removed=False)),
        mcp(auditHeader=dh.StatusClass(removed=False)),
        mcp(headers={"a": "b"}),
        mcp(headers={"a": 1}),
        mcp(headers={1: "a"}),
    ]
    outcomes = [assert_same(case) for case in cases]
    assert outcomes.count(True) >= 5 and outcomes.count(False) >= 10


def test_overridden_validate_is_asked_itself() -> None:
    class Strict(Mcp):
        def validate(self) -> bool:
            return False

    class Never(dh.StatusClass):
        def validate(self) -> bool:
            return False

    assert valid_mcp(Mcp(entityUrn=URN, aspect=dh.StatusClass(removed=False)))
    assert not valid_mcp(Strict(entityUrn=URN, aspect=dh.StatusClass(removed=False)))
    assert not valid_mcp(Mcp(entityUrn=URN, aspect=Never(removed=False)))
    assert not valid_aspect(Never(removed=False))


def test_first_use_from_many_threads_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # a replay's shadow store writes from its own thread while live writes: the checks
    # compiled on first use must be complete before any thread can use them
    from concurrent.futures import ThreadPoolExecutor

    from sinks.catalog import validation

    for cache in ("_compiled", "_aspect_checks", "_envelopes"):
        monkeypatch.setattr(validation, cache, {})
    mcps = catalog_mcps()
    expected = [m.validate() for m in mcps]
    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda _: [valid_mcp(m) for m in mcps], range(8)))
    assert all(v == expected for v in verdicts)
