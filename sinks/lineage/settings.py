"""``OpenLineageSettings``: where the lineage plane sends its events. Pydantic only.

Imported by ``proofstream.settings`` on every install, so nothing here may pull
openlineage-python (or anything else of the pipeline extra).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["OpenLineageSettings"]


class OpenLineageSettings(BaseModel):
    """Where lineage goes: ``url=None`` → file transport at
    ``<state_dir>/openlineage/events.ndjson`` (or ``file``); else HTTP to ``url``
    (``endpoint`` path, optional bearer ``api_key`` read from the secrets dir).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        default=None,
        description="http(s):// base URL of an OpenLineage backend (Marquez, DataHub). "
        "Unset: events go to an NDJSON file.",
    )
    endpoint: str = Field(
        default="api/v1/lineage", description="Path of the lineage endpoint under url."
    )
    timeout_s: float = Field(default=5.0, description="HTTP timeout in seconds.")
    api_key: SecretStr | None = Field(
        default=None,
        description="Bearer key for the HTTP endpoint; read from the file `openlineage__api_key` "
        "in the secrets directory.",
    )
    file: Path | None = Field(
        default=None, description="The NDJSON file of the file transport (when url is unset)."
    )
    processor_namespace: str = Field(
        default="proofstream",
        description="Job namespace of the plane's own streaming run (its START and checkpoint "
        "events), which replay digests leave out.",
    )

    def resolve_file(self, state_dir: Path) -> Path:
        """The NDJSON file of the file transport for generation 0."""
        return (self.file or Path(state_dir) / "openlineage" / "events.ndjson").resolve()
