"""The platform's own entities: the event topics, the warehouse tables, the projections.

:func:`platform_mcps` describes proofstream itself in the catalog, so that a user of
DataHub finds where the agent-action events flow: each Kafka topic with the schema
derived from the Avro catalog, each ClickHouse table with the schema derived from
its DDL, and each projection as a streaming dataJob reading the topics and writing
its stores. Pure; the store writes these once when it opens (unchanged ones are
skipped like any other aspect). They are built here, once per store (recipes of
already built aspects: :func:`sinks.catalog.aspects.built`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from datahub.metadata import schema_classes as dh

from schemas.catalog import SchemaCatalog
from sinks.catalog.aspects import Recipe, built
from sinks.catalog.borrowed import facts_tables, warehouse_tables
from sinks.catalog.context import Proposal, entity, props
from sinks.catalog.urns import Urns, escape, platform_urn

__all__ = ["default_processors", "platform_proposals"]

_DATABASE = "proofstream"


def default_processors() -> dict[str, tuple[str, ...]]:
    """Projection → the store datasets it writes (``platform:name``). Pure."""
    return {
        "facts": tuple(f"clickhouse:{_DATABASE}.{t}" for t in facts_tables()),
        "identity": ("rdf:https://fractalops.io/graph/identity",),
        "catalog": (),
    }


def _entity(urn: str, *aspects: Any) -> list[Proposal]:
    """One proposal per built aspect of ``urn``."""
    recipes: list[Recipe] = [built(aspect) for aspect in aspects]
    return entity(urn, *recipes)


def platform_proposals(
    urns: Urns,
    topics: Sequence[str],
    catalog: SchemaCatalog,
    processors: Mapping[str, Sequence[str]] | None = None,
) -> list[Proposal]:
    """The topics (schema from the Avro ``catalog``), the warehouse tables (schema from
    the DDL) and every projection of ``processors`` (default
    :func:`default_processors`) as a dataJob reading ``topics``. Pure."""
    topic_urns = [urns.dataset("kafka", escape(t)) for t in topics]
    out = _topics(topics, topic_urns, catalog)
    for table, cols in sorted(warehouse_tables().items()):
        out += _entity(
            urns.dataset("clickhouse", f"{_DATABASE}.{table}"),
            dh.DatasetPropertiesClass(
                name=table, customProperties=props("warehouse_table", database=_DATABASE)
            ),
            dh.SchemaMetadataClass(
                schemaName=f"{_DATABASE}.{table}",
                platform=platform_urn("clickhouse"),
                version=0,
                hash="",
                platformSchema=dh.OtherSchemaClass(rawSchema=""),
                fields=[_column(name, native) for name, native in cols],
            ),
            dh.SubTypesClass(typeNames=["Table"]),
        )
    flow = urns.flow("proofstream", "projections")
    out += _entity(
        flow,
        dh.DataFlowInfoClass(
            name="proofstream projections",
            customProperties=props("processors", topics=",".join(topics)),
        ),
    )
    chosen = default_processors() if processors is None else processors
    for name, stores in sorted(chosen.items()):
        outputs = []
        for store in stores:
            platform, _, store_name = store.partition(":")
            store_urn = urns.dataset(platform, escape(store_name))
            outputs.append(store_urn)
            if platform != "clickhouse":  # the tables are described above
                out += _entity(
                    store_urn,
                    dh.DatasetPropertiesClass(
                        name=store_name, customProperties=props("projection_store")
                    ),
                )
        out += _entity(
            urns.job(flow, name),
            dh.DataJobInfoClass(name=name, type="STREAMING", customProperties=props("projection")),
            dh.DataJobInputOutputClass(inputDatasets=topic_urns, outputDatasets=outputs),
        )
    return out


def _topics(topics: Sequence[str], topic_urns: list[str], catalog: SchemaCatalog) -> list[Proposal]:
    schemas = [catalog.current(t).path.read_text("utf-8") for t in catalog.event_types]
    raw = "[" + ",".join(schemas) + "]"
    fields = _avro_fields(schemas)
    out: list[Proposal] = []
    for topic, urn in zip(topics, topic_urns, strict=True):
        out += _entity(
            urn,
            dh.DatasetPropertiesClass(
                name=topic,
                description="FractalOps agent-action events (Avro single-object encoding).",
                customProperties=props("event_log", event_types=",".join(catalog.event_types)),
            ),
            dh.SchemaMetadataClass(
                schemaName=topic,
                platform=platform_urn("kafka"),
                version=0,
                hash=hashlib.sha256(raw.encode()).hexdigest(),
                platformSchema=dh.KafkaSchemaClass(documentSchema=raw, documentSchemaType="AVRO"),
                fields=fields,
            ),
            dh.SubTypesClass(typeNames=["Topic"]),
        )
    return out


def _avro_fields(schemas: Sequence[str]) -> list[Any]:
    """DataHub's own Avro → schema field conversion, one field per path across the
    event types (the first type that has a path describes it)."""
    from datahub.ingestion.extractor.schema_util import avro_schema_to_mce_fields

    fields: dict[str, Any] = {}
    for schema in schemas:
        for field in avro_schema_to_mce_fields(schema, swallow_exceptions=False):
            fields.setdefault(field.fieldPath, field)
    return [fields[path] for path in sorted(fields)]


_WRAPPER = re.compile(r"^(LowCardinality|Nullable)\((.*)\)$")


def _column(name: str, native: str) -> Any:
    inner = _WRAPPER.sub(r"\2", _WRAPPER.sub(r"\2", native))
    types: Any = dh  # the generated type classes have untyped constructors
    if re.match(r"^U?Int|^Float|^Decimal", inner):
        kind = types.NumberTypeClass()
    elif inner.startswith(("DateTime", "Date")):
        kind = types.TimeTypeClass()
    elif inner.startswith("Map"):
        kind = types.MapTypeClass()
    elif inner.startswith("Array"):
        kind = types.ArrayTypeClass()
    elif inner.startswith("Bool"):
        kind = types.BooleanTypeClass()
    else:
        kind = types.StringTypeClass()
    return dh.SchemaFieldClass(
        fieldPath=name,
        type=dh.SchemaFieldDataTypeClass(type=kind),
        nativeDataType=native,
        nullable="Nullable(" in native,
    )
