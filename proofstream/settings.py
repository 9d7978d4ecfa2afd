"""The one ``Settings`` object, read from ``PROOFSTREAM_*`` variables and a secrets dir.

Built once in ``proofstream.cli.main()`` and passed down. Nested parts use ``__``:
``PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS=host:9092``.

**Secrets** are ``SecretStr`` fields, read from files in the secrets directory
(``PROOFSTREAM_SECRETS_DIR``, default ``/run/secrets/proofstream``, as External
Secrets mounts them from OpenBao), one file per secret named ``<section>__<field>``
(``kafka__sasl_password``); surrounding whitespace is stripped. A file wins over
an environment variable, which is only the local-development fallback. This is
pydantic-settings' own ``NestedSecretsSettingsSource`` (2.12+), configured with
no prefix and ``__`` as the nesting delimiter, not a hand-rolled reader.
:func:`secret_files` lists every file name; SECURITY.md documents them.

Secret values never appear in ``repr``, ``model_dump(mode="json")`` (masked), the
child-process environment (:func:`settings_env`) or validation errors
(``hide_input_in_errors``): only the clients that need them call
``get_secret_value()``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, SecretStr
from pydantic_core import to_jsonable_python
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from processors.settings import ProcessorSettings
from producers.settings import KafkaSettings, ProducerSettings
from sinks.catalog import DataHubSettings
from sinks.evidence import ChronicleSettings
from sinks.facts.settings import ClickHouseSettings
from sinks.identity import RdfSettings
from sinks.lineage import OpenLineageSettings

__all__ = [
    "BrokerSettings",
    "Settings",
    "default_cache_dir",
    "secret_files",
    "settings_env",
]


def default_cache_dir() -> Path:
    """Where downloaded jars are kept between runs (``~/.cache/proofstream``)."""
    return Path.home() / ".cache" / "proofstream"


class BrokerSettings(BaseModel):
    """The local KRaft brokers that ``proofstream kafka up`` launches: the single node
    (default), the ``--nodes N`` cluster and the ``--secure`` SASL_SSL node."""

    model_config = ConfigDict(frozen=True)

    kafka_version: str = Field(
        default="4.1.1", description="Kafka release whose jars the launcher fetches from Maven."
    )
    scala_version: str = Field(
        default="2.13", description="Scala build of those jars (`kafka_<scala>-<kafka>`)."
    )
    log4j_version: str = Field(default="2.24.3", description="Log4j version fetched with them.")
    host: str = Field(
        default="127.0.0.1", description="Address every local node listens on and advertises."
    )
    port: int = Field(default=9092, ge=1, le=65535, description="Client port of the single node.")
    controller_port: int = Field(
        default=9093, ge=1, le=65535, description="Controller port of the single node."
    )
    heap: str = Field(
        default="512m", description="JVM heap (-Xms/-Xmx) of the single node and the secure node."
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Where downloaded Kafka jars are kept between runs.",
    )
    ready_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds the single or secure node may take to answer before `kafka up` fails.",
    )
    cluster_port: int = Field(
        default=19092,
        ge=1,
        le=65000,
        description="First port of the local cluster (`kafka up --nodes N`): node i listens on "
        "cluster_port + 2(i-1), its controller on the next port: 19092/19093, 19094/19095, "
        "19096/19097.",
    )
    cluster_heap: str = Field(default="384m", description="JVM heap of each cluster node.")
    cluster_ready_timeout_s: float = Field(
        default=120.0, gt=0, description="Seconds the local cluster may take to become ready."
    )
    jvm_options: tuple[str, ...] = Field(
        default=(),
        description="Extra JVM flags for every local node, e.g. -XX:TieredStopAtLevel=1 "
        "(C1 only: nodes start about twice as fast on 2 busy cores, run slower; the "
        "fault tier uses it).",
    )
    secure_port: int = Field(
        default=29092,
        ge=1,
        le=65535,
        description="SASL_SSL client listener of the secure node (`kafka up --secure`).",
    )
    secure_controller_port: int = Field(
        default=29093, ge=1, le=65535, description="Controller port of the secure node."
    )

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        return f"{self.host}:{self.secure_port}"


class Settings(BaseSettings):
    """Everything proofstream can be configured with. docs/configuration.md lists every
    field (generated from this model by :mod:`proofstream.config_doc`); SECURITY.md
    explains the secrets."""

    model_config = SettingsConfigDict(
        env_prefix="PROOFSTREAM_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
        secrets_prefix="",
        secrets_nested_delimiter="__",
    )

    state_dir: Path = Field(
        default=Path(".proofstream"),
        description="Directory of local state (relative to the working directory): the local "
        "Kafka nodes' data and logs, the embedded stores, Chronicle, the archive, the lineage "
        "file, faust's data and generated keys.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="warning",
        description="Level of every library's log lines (librdkafka's included), on stderr.",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    producer: ProducerSettings = Field(default_factory=ProducerSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    processors: ProcessorSettings = Field(default_factory=ProcessorSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    rdf: RdfSettings = Field(default_factory=RdfSettings)
    datahub: DataHubSettings = Field(default_factory=DataHubSettings)
    chronicle: ChronicleSettings = Field(default_factory=ChronicleSettings)
    openlineage: OpenLineageSettings = Field(default_factory=OpenLineageSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The stock SecretsSettingsSource maps a file to a top-level field only; the
        # nested source maps kafka__sasl_password to kafka.sasl_password. Files come
        # before the environment: env vars are only the local fallback.
        return (
            init_settings,
            NestedSecretsSettingsSource(file_secret_settings),
            env_settings,
            dotenv_settings,
        )


def secret_files(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """The file name of every secret in the secrets directory (``kafka__sasl_password``,
    ...): each ``SecretStr`` field, found by walking the model. Pure."""
    found: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}__{name}" if prefix else name
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        kinds = (annotation, *args)
        if any(k in (SecretStr, SecretBytes) for k in kinds):
            found.append(key)
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found += secret_files(kind, key)
    return found


def settings_env(settings: Settings) -> dict[str, str]:
    """``PROOFSTREAM_*`` variables that rebuild ``settings`` in a child process
    (the worker the demo starts). Every secret is left out: the child reads it from
    the secrets directory (or its own environment), as the parent did."""
    env: dict[str, str] = {}

    def walk(prefix: str, model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            key = f"{prefix}__{name}" if prefix else name
            if value is None or isinstance(value, SecretStr | SecretBytes):
                continue
            if isinstance(value, BaseModel):
                walk(key, value)
                continue
            plain = to_jsonable_python(value)
            text = plain if isinstance(plain, str) else json.dumps(plain)
            env[f"PROOFSTREAM_{key.upper()}"] = text

    walk("", settings)
    return env
