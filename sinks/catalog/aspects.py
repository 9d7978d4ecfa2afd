"""The aspects the catalog states, as recipes: which DataHub class, built from which
plain values. Pure.

A handler does not build DataHub objects; it states :data:`Recipe`s, and the store
builds each aspect (with DataHub's own classes, exactly as a handler would) when it
writes it, one at a time, so that no aspect outlives its own write. Why: a batch of
the worker's size states ~40k aspects; built up front they were ~160k objects alive
through the whole batch, and the garbage collector's full collections (several per
batch, each walking every object of the process) cost more than building them.

Every recipe function below takes plain values (strings, numbers, ``None``, a
``customProperties`` dict, URN tuples) and returns the recipe of one aspect; its
builder copies what it is given, so the DataHub objects of two builds never share a
mutable part. ``built(aspect)`` wraps an aspect that is already built (the
platform's own entities, built once per store).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from datahub.metadata import schema_classes as dh

__all__ = [
    "Recipe",
    "built",
    "container",
    "container_properties",
    "dataset_properties",
    "flow_info",
    "instance_inputs",
    "instance_outputs",
    "instance_properties",
    "job_info",
    "platform_instance",
    "relationships",
    "run_event",
    "status",
    "sub_types",
    "upstream_lineage",
]


Recipe = tuple[str, Callable[..., Any], tuple[Any, ...]]
"""One aspect to build, ``(name, build, args)``: ``build(*args)`` is the DataHub aspect
named ``name``. A plain tuple: a batch makes ~40k of them, and a named tuple's
constructor costs ten times as much."""


def built(aspect: Any) -> Recipe:
    """The recipe of an aspect already built."""
    return (aspect.get_aspect_name(), _same, (aspect,))


def _same(aspect: Any) -> Any:
    return aspect


def _name(cls: Any) -> str:
    return str(cls.ASPECT_NAME)


# --- containers, flows, jobs -------------------------------------------------------------

_CONTAINER: Final = _name(dh.ContainerClass)
_CONTAINER_PROPERTIES: Final = _name(dh.ContainerPropertiesClass)
_SUB_TYPES: Final = _name(dh.SubTypesClass)
_PLATFORM_INSTANCE: Final = _name(dh.DataPlatformInstanceClass)
_FLOW_INFO: Final = _name(dh.DataFlowInfoClass)
_JOB_INFO: Final = _name(dh.DataJobInfoClass)
_STATUS: Final = _name(dh.StatusClass)


def container(parent: str) -> Recipe:
    """``container``: the entity is in container ``parent``."""
    return (_CONTAINER, _container, (parent,))


def _container(parent: str) -> Any:
    return dh.ContainerClass(container=parent)


def container_properties(
    name: str, custom: Mapping[str, str], external_url: str | None = None
) -> Recipe:
    return (_CONTAINER_PROPERTIES, _container_properties, (name, custom, external_url))


def _container_properties(name: str, custom: Mapping[str, str], url: str | None) -> Any:
    return dh.ContainerPropertiesClass(name=name, externalUrl=url, customProperties=dict(custom))


def sub_types(*names: str) -> Recipe:
    return (_SUB_TYPES, _sub_types, names)


def _sub_types(*names: str) -> Any:
    return dh.SubTypesClass(typeNames=list(names))


def platform_instance(platform: str) -> Recipe:
    """``dataPlatformInstance`` of platform URN ``platform``."""
    return (_PLATFORM_INSTANCE, _platform_instance, (platform,))


def _platform_instance(platform: str) -> Any:
    return dh.DataPlatformInstanceClass(platform=platform)


def flow_info(name: str, custom: Mapping[str, str]) -> Recipe:
    return (_FLOW_INFO, _flow_info, (name, custom))


def _flow_info(name: str, custom: Mapping[str, str]) -> Any:
    return dh.DataFlowInfoClass(name=name, customProperties=dict(custom))


def job_info(name: str, kind: str, custom: Mapping[str, str]) -> Recipe:
    """``dataJobInfo`` of type ``kind``."""
    return (_JOB_INFO, _job_info, (name, kind, custom))


def _job_info(name: str, kind: str, custom: Mapping[str, str]) -> Any:
    return dh.DataJobInfoClass(name=name, type=kind, customProperties=dict(custom))


def status(*, removed: bool) -> Recipe:
    return (_STATUS, _status, (removed,))


def _status(removed: bool) -> Any:
    return dh.StatusClass(removed=removed)


# --- process instances -------------------------------------------------------------------

_INSTANCE_PROPERTIES: Final = _name(dh.DataProcessInstancePropertiesClass)
_RELATIONSHIPS: Final = _name(dh.DataProcessInstanceRelationshipsClass)
_RUN_EVENT: Final = _name(dh.DataProcessInstanceRunEventClass)
_INPUTS: Final = _name(dh.DataProcessInstanceInputClass)
_OUTPUTS: Final = _name(dh.DataProcessInstanceOutputClass)


def instance_properties(
    name: str, created_ms: int, creator: str, custom: Mapping[str, str]
) -> Recipe:
    """``dataProcessInstanceProperties``, created at ``created_ms`` by URN ``creator``."""
    return (_INSTANCE_PROPERTIES, _instance_properties, (name, created_ms, creator, custom))


def _instance_properties(name: str, created: int, creator: str, custom: Mapping[str, str]) -> Any:
    return dh.DataProcessInstancePropertiesClass(
        name=name,
        created=dh.AuditStampClass(time=created, actor=creator),
        customProperties=dict(custom),
    )


def relationships(
    *, parent_template: str | None = None, parent_instance: str | None = None
) -> Recipe:
    """``dataProcessInstanceRelationships`` (no upstream instances)."""
    return (_RELATIONSHIPS, _relationships, (parent_template, parent_instance))


def _relationships(template: str | None, instance: str | None) -> Any:
    return dh.DataProcessInstanceRelationshipsClass(
        upstreamInstances=[], parentTemplate=template, parentInstance=instance
    )


def run_event(
    timestamp_ms: int, result: str, native: str, duration_ms: int | None = None
) -> Recipe:
    """A process instance's run ``COMPLETE`` with ``result`` (native: ``native``)."""
    return (_RUN_EVENT, _run_event, (timestamp_ms, result, native, duration_ms))


def _run_event(timestamp_ms: int, result: str, native: str, duration_ms: int | None) -> Any:
    return dh.DataProcessInstanceRunEventClass(
        timestampMillis=timestamp_ms,
        # the schema's default, given explicitly: the constructor would otherwise
        # decode it from the Avro schema on every call (most of the aspect's cost)
        partitionSpec=dh.PartitionSpecClass(
            partition="FULL_TABLE_SNAPSHOT", type=dh.PartitionTypeClass.FULL_TABLE
        ),
        status=dh.DataProcessRunStatusClass.COMPLETE,
        result=dh.DataProcessInstanceRunResultClass(type=result, nativeResultType=native),
        durationMillis=duration_ms,
    )


def instance_inputs(*urns: str) -> Recipe:
    return (_INPUTS, _instance_inputs, urns)


def _instance_inputs(*urns: str) -> Any:
    return dh.DataProcessInstanceInputClass(inputs=list(urns))


def instance_outputs(*urns: str) -> Recipe:
    return (_OUTPUTS, _instance_outputs, urns)


def _instance_outputs(*urns: str) -> Any:
    return dh.DataProcessInstanceOutputClass(outputs=list(urns))


# --- datasets ----------------------------------------------------------------------------

_DATASET_PROPERTIES: Final = _name(dh.DatasetPropertiesClass)
_UPSTREAM_LINEAGE: Final = _name(dh.UpstreamLineageClass)


def dataset_properties(
    name: str,
    custom: Mapping[str, str],
    *,
    description: str | None = None,
    external_url: str | None = None,
) -> Recipe:
    return (_DATASET_PROPERTIES, _dataset_properties, (name, custom, description, external_url))


def _dataset_properties(
    name: str, custom: Mapping[str, str], description: str | None, url: str | None
) -> Any:
    return dh.DatasetPropertiesClass(
        name=name, description=description, externalUrl=url, customProperties=dict(custom)
    )


def upstream_lineage(dataset: str, kind: str) -> Recipe:
    """``upstreamLineage``: one upstream ``dataset`` of lineage type ``kind``."""
    return (_UPSTREAM_LINEAGE, _upstream_lineage, (dataset, kind))


def _upstream_lineage(dataset: str, kind: str) -> Any:
    return dh.UpstreamLineageClass(upstreams=[dh.UpstreamClass(dataset=dataset, type=kind)])
