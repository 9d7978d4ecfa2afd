"""``OpenLineageSettings``: where the lineage plane sends its events. Pydantic only.

Imported by ``proofstream.settings`` on every install, so nothing here may pull
openlineage-python (or anything else of the pipeline extra).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

__all__ = ["OpenLineageSettings"]


class OpenLineageSettings(BaseModel):
    """Where lineage goes: ``url=None`` → file transport at
    ``<state_dir>/openlineage/events.ndjson`` (or ``file``); else HTTP to ``url``
    (``endpoint`` path, optional bearer ``api_key`` read from the secrets dir).

    ``processor_namespace`` is the job namespace of the plane's own streaming run
    (its START and checkpoint events), which replay digests leave out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    endpoint: str = "api/v1/lineage"
    timeout_s: float = 5.0
    api_key: SecretStr | None = None
    file: Path | None = None
    processor_namespace: str = "proofstream"

    def resolve_file(self, state_dir: Path) -> Path:
        """The NDJSON file of the file transport for generation 0."""
        return (self.file or Path(state_dir) / "openlineage" / "events.ndjson").resolve()
