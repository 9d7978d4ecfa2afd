"""The one ``Settings`` object, read from ``PROOFSTREAM_*`` variables and a secrets dir.

Built once in ``proofstream.cli.main()`` and passed down. Nested parts use ``__``:
``PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS=host:9092``. Secrets are read from files in
the secrets directory (``kafka__sasl_password``), as External Secrets mounts them
from OpenBao; environment variables are only the local-development fallback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from processors.settings import ProcessorSettings
from producers.settings import KafkaSettings, ProducerSettings
from sinks.chronicle import ChronicleSettings
from sinks.clickhouse import ClickHouseSettings
from sinks.datahub import DataHubSettings
from sinks.lineage import OpenLineageSettings
from sinks.rdf import RdfSettings

__all__ = ["BrokerSettings", "Settings", "default_cache_dir", "settings_env"]


def default_cache_dir() -> Path:
    """Where downloaded jars are kept between runs (``~/.cache/proofstream``)."""
    return Path.home() / ".cache" / "proofstream"


class BrokerSettings(BaseModel):
    """The local KRaft brokers that ``proofstream kafka up`` launches: the single node
    (default), the ``--nodes N`` cluster and the ``--secure`` SASL_SSL node."""

    model_config = ConfigDict(frozen=True)

    kafka_version: str = "4.1.1"
    scala_version: str = "2.13"
    log4j_version: str = "2.24.3"
    host: str = "127.0.0.1"
    port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    heap: str = "512m"
    cache_dir: Path = Field(default_factory=default_cache_dir)
    ready_timeout_s: float = Field(default=60.0, gt=0)
    cluster_port: int = Field(
        default=19092,
        ge=1,
        le=65000,
        description="Node i of the local cluster listens on cluster_port + 2(i-1), its "
        "controller on the next port: 19092/19093, 19094/19095, 19096/19097.",
    )
    cluster_heap: str = "384m"
    cluster_ready_timeout_s: float = Field(default=120.0, gt=0)
    secure_port: int = Field(default=29092, ge=1, le=65535, description="SASL_SSL listener.")
    secure_controller_port: int = Field(default=29093, ge=1, le=65535)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        return f"{self.host}:{self.secure_port}"


class Settings(BaseSettings):
    """Everything proofstream can be configured with. See the README's Configuration."""

    model_config = SettingsConfigDict(
        env_prefix="PROOFSTREAM_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
    )

    state_dir: Path = Path(".proofstream")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    producer: ProducerSettings = Field(default_factory=ProducerSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    processors: ProcessorSettings = Field(default_factory=ProcessorSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    rdf: RdfSettings = Field(default_factory=RdfSettings)
    datahub: DataHubSettings = Field(default_factory=DataHubSettings)
    chronicle: ChronicleSettings = Field(default_factory=ChronicleSettings)
    openlineage: OpenLineageSettings = Field(default_factory=OpenLineageSettings)


_SECRETS = (
    ("kafka", "sasl_password"),
    ("kafka", "ssl_key_password"),
    ("rdf", "password"),
    ("datahub", "token"),
    ("openlineage", "api_key"),
)


def settings_env(settings: Settings) -> dict[str, str]:
    """``PROOFSTREAM_*`` variables that rebuild ``settings`` in a child process
    (the worker the demo starts). Secrets are left out: the child reads them from
    the secrets directory or its own environment, as the parent did."""
    env: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}__{key}".upper() if prefix else key.upper(), item)
        elif value is not None:
            env[f"PROOFSTREAM_{prefix}"] = (
                value if isinstance(value, str) else json.dumps(value, default=str)
            )

    data = settings.model_dump(mode="json", exclude_none=True)
    for section, secret in _SECRETS:
        data.get(section, {}).pop(secret, None)
    walk("", data)
    return env
