"""Where the facts plane lives (pydantic only: imported by ``proofstream.settings``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from schemas.errors import ConfigError

__all__ = ["ClickHouseSettings", "backend_of"]


class ClickHouseSettings(BaseModel):
    """The facts plane's ClickHouse. ``dsn=None`` means embedded chDB under the state dir
    (``chdb://<state_dir>/clickhouse``); ``http(s)://user@host:8123`` a server, whose
    password comes from the secrets directory (``clickhouse__password``), never the DSN."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    dsn: str | None = Field(
        default=None,
        description="Unset: embedded chDB under the state dir; `http(s)://user@host:8123`: a "
        "ClickHouse server. Must not carry a password.",
    )
    database: str = Field(default="proofstream", description="Database of the fact tables.")
    password: SecretStr | None = Field(
        default=None,
        description="Password of the DSN's user on a ClickHouse server; read from the file "
        "`clickhouse__password` in the secrets directory.",
    )
    query_timeout_s: float = Field(
        default=30.0, gt=0, description="Analyst query time limit in seconds."
    )
    query_max_rows: int = Field(default=100_000, ge=1, description="Analyst result row limit.")
    query_max_memory_bytes: int = Field(
        default=1 << 30, ge=1 << 20, description="Analyst query memory limit in bytes."
    )
    cluster: str | None = Field(
        default=None,
        description="A ClickHouse cluster (remote_servers + Keeper): replicated, sharded tables"
        " behind Distributed ones (sinks.facts.cluster).",
    )
    query_max_threads: int = Field(
        default=1, ge=1, description="Threads one analyst query may use (ingestion keeps the rest)."
    )

    @field_validator("dsn")
    @classmethod
    def _no_password_in_dsn(cls, dsn: str | None) -> str | None:
        if dsn is not None and urlsplit(dsn).password is not None:
            # the message must not repeat the DSN: it holds the password
            raise ValueError(
                "the ClickHouse DSN must not carry a password; put it in the file "
                "clickhouse__password in the secrets directory"
            )
        return dsn

    def resolve_dsn(self, state_dir: Path) -> str:
        """The DSN to connect to: ``dsn`` as given, else ``chdb://<abs state_dir>/clickhouse``.

        Raises :class:`ConfigError` for a scheme other than chdb, http or https, and
        for a DSN that carries a password (it belongs in the secrets directory).
        """
        if self.dsn is None:
            return f"chdb://{(Path(state_dir) / 'clickhouse').resolve()}"
        backend_of(self.dsn)
        if urlsplit(self.dsn).password is not None:
            raise ConfigError(
                "the ClickHouse DSN must not carry a password: put it in the secrets"
                " directory as clickhouse__password"
            )
        return self.dsn


def backend_of(dsn: str) -> str:
    """``"chdb"`` or ``"http"`` for a DSN; raises :class:`ConfigError` otherwise. Pure.

    The error never repeats the DSN itself: it may carry credentials.
    """
    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        if not parts.path.startswith("/") or parts.netloc:
            raise ConfigError("a chDB DSN must name an absolute directory (chdb:///abs/dir)")
        return "chdb"
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ConfigError("the ClickHouse DSN has no host")
        return "http"
    raise ConfigError(
        f"unsupported ClickHouse DSN scheme {parts.scheme!r}: use chdb:// or http(s)://"
    )
