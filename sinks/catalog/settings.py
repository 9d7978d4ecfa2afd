"""``DataHubSettings``: where the catalog plane keeps its store (pydantic only).

Imported by ``proofstream.settings`` on every install, the producer-only one
included, so this module imports nothing of DataHub.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["DataHubSettings"]


class DataHubSettings(BaseModel):
    """Where the catalog lives: DataHub Lite under the state dir, plus GMS if set.

    ``gms_url`` (``http(s)://``) makes the store also send every changed aspect to
    DataHub GMS with DataHub's REST emitter, authenticated by ``token`` (read from the
    secrets dir as ``datahub__token``; never logged).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    gms_url: str | None = Field(
        default=None,
        description="http(s):// URL of DataHub GMS; when set every changed aspect is also "
        "sent there. Unset: DataHub Lite only.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="Access token for GMS; read from the file `datahub__token` in the secrets "
        "directory.",
    )
    env: str = Field(
        default="PROD", description="The DataHub env (fabric) of every dataset and flow URN."
    )
    lite_file: Path | None = Field(
        default=None, description="The DataHub Lite database file; unset: under the state dir."
    )

    def lite_file_in(self, state_dir: Path) -> Path:
        """The configured Lite database file of generation 0 (not resolved through the
        ``current`` pointer: see :func:`sinks.catalog.lite_path` for the live one)."""
        return self.lite_file or Path(state_dir) / "datahub" / "lite.sqlite"
