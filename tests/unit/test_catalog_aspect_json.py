"""The store's aspect JSON is exactly what DataHub writes: ``json.dumps`` of DataHub's
``pre_json_transform`` of avrogen's ``to_obj()``, for every aspect the catalog writes
and for every aspect class DataHub defines (as far as its defaults are valid)."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("datahub")

from datahub.emitter.aspect import ASPECT_MAP
from datahub.emitter.serialization_helper import pre_json_transform
from datahub.metadata import schema_classes as dh

from schemas.catalog import load_catalog
from sinks.catalog import aspect_json as aspect_json_module
from sinks.catalog.aspect_json import aspect_json
from sinks.catalog.projection import CatalogProjection
from tests.contract.store_contract import batch_for, records_of
from tests.unit.test_catalog_projection import knowledge_and_lineage
from tests.workload_batch import workload

DATASET = "urn:li:dataset:(urn:li:dataPlatform:a,b,PROD)"


def reference(aspect: Any) -> str:
    return json.dumps(pre_json_transform(aspect.to_obj()))


def test_every_aspect_the_catalog_writes() -> None:
    projection = CatalogProjection()
    events = [*workload().events, *knowledge_and_lineage()]
    proposals = projection.project(batch_for(projection, records_of(events)))
    proposals += projection.platform(("fractalops.agent-actions.v1",), load_catalog())
    mcps = [p.mcp() for p in proposals]
    assert len({m.aspectName for m in mcps}) >= 15
    for mcp in mcps:
        assert aspect_json(mcp.aspect) == reference(mcp.aspect), mcp.aspectName  # type: ignore[arg-type]


def test_unions_arrays_maps_and_bytes() -> None:
    aspects = [
        dh.UpstreamLineageClass(
            upstreams=[dh.UpstreamClass(dataset=DATASET, type=dh.DatasetLineageTypeClass.COPY)],
            fineGrainedLineages=[
                dh.FineGrainedLineageClass(
                    upstreamType="FIELD_SET", downstreamType="FIELD", upstreams=[], downstreams=[]
                )
            ],
        ),
        dh.DatasetPropertiesClass(
            customProperties={"com.linkedin.pegasus2avro.odd": "key"}, name=None, tags=["x"]
        ),
        dh.GlobalTagsClass(tags=[dh.TagAssociationClass(tag="urn:li:tag:a", context="c")]),
        dh.CostClass(  # a union with aliases: DataHub drops its fieldDiscriminator
            costType=dh.CostTypeClass.ORG_COST_TYPE,
            cost=dh.CostCostClass(fieldDiscriminator="costCode", costCode="cc-1"),
        ),
        dh.OwnershipClass(
            owners=[dh.OwnerClass(owner="urn:li:corpuser:a", type=dh.OwnershipTypeClass.DATAOWNER)]
        ),
    ]
    for aspect in aspects:
        assert aspect_json(aspect) == reference(aspect)


def test_every_datahub_aspect_class_with_its_defaults() -> None:
    compared = 0
    for cls in ASPECT_MAP.values():
        aspect = cls._construct_with_defaults()
        try:
            expected = reference(aspect)
        except Exception:  # defaults that are not a valid aspect
            continue
        assert aspect_json(aspect) == expected, cls.__name__
        compared += 1
    assert compared > 100


def test_every_datahub_aspect_class_with_every_field_set() -> None:
    from tests.unit.test_catalog_validation import valid_value

    for cls in ASPECT_MAP.values():
        for branch in (0, -1):  # the first and the last member of every union
            aspect = valid_value(cls.RECORD_SCHEMA, branch=branch)
            assert aspect_json(aspect) == reference(aspect), cls.__name__


def test_text_and_numbers_encode_as_json_dumps_does() -> None:
    aspect = dh.DatasetPropertiesClass(
        name='caf\u00e9 \u2603 "quoted" back\\slash\ttab\x00nul \U0001f600',
        description="</script> & <b>",
        customProperties={"\u00fcber": "line\nbreak", "ratio": "1e+16"},
        tags=["\x7f", "\u2028"],
    )
    assert aspect_json(aspect) == reference(aspect)
    sample = {"f": [0.1, 1e16, -0.0, 1.5e-7, 2**70], "b": [True, False, None]}
    assert aspect_json_module._dumps(sample) == json.dumps(sample)
