"""The catalog's URNs: deterministic, from natural keys, built by DataHub's ``mce_builder``.

Every URN is a pure function of a natural key (a project name, a run id and
attempt, a PR ref, an evidence digest), so replaying the log in any cut writes the
same entities. Containers and process instances are keyed by DataHub's own
``datahub_guid`` of a key dict. These URNs are the catalog's public identifiers:
changing one orphans the entity stored under the old one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from datahub.emitter.mce_builder import (
    datahub_guid,
    make_container_urn,
    make_data_flow_urn,
    make_data_job_urn_with_flow,
    make_data_platform_urn,
    make_data_process_instance_urn,
    make_dataset_urn,
)

__all__ = ["DEFAULT_ENV", "Urns", "escape", "platform_urn"]

DEFAULT_ENV: Final = "PROD"
_RESERVED = re.compile(r"[,()\s%]")


def escape(value: object) -> str:
    """``value`` as a URN name part: ``,``, ``(`` and ``)`` delimit URN tuples, so they
    (whitespace and ``%`` too) are percent-encoded. Pure."""
    return _RESERVED.sub(lambda m: f"%{ord(m.group()):02X}", str(value))


def platform_urn(platform: str) -> str:
    """``urn:li:dataPlatform:<platform>``. Pure."""
    return str(make_data_platform_urn(platform))


@dataclass(frozen=True, slots=True)
class Urns:
    """The URN builders of one DataHub ``env`` (fabric). Pure."""

    env: str = DEFAULT_ENV

    def project(self, project: str) -> str:
        return str(make_container_urn(datahub_guid({"platform": "fractalops", "project": project})))

    def repository(self, repository: str) -> str:
        return str(
            make_container_urn(datahub_guid({"platform": "github", "repository": repository}))
        )

    def squad(self, project: str, team: str, generation: int) -> str:
        """The agent squad generation (or, without a team type, the actors of a kind)."""
        return str(
            make_data_flow_urn("fractalops", escape(f"{project}.{team}.gen{generation}"), self.env)
        )

    def agent(self, flow: str, actor_id: str) -> str:
        return str(make_data_job_urn_with_flow(flow, escape(actor_id)))

    def run(self, project: str, run_id: str, attempt: int) -> str:
        key = {"project": project, "run_id": run_id, "attempt": attempt}
        return str(make_data_process_instance_urn(datahub_guid(key)))

    def instance(self, **key: Any) -> str:
        """A process instance keyed by ``key`` (values compared as strings)."""
        return str(
            make_data_process_instance_urn(datahub_guid({k: str(v) for k, v in key.items()}))
        )

    def github(self, kind: str, ref: str) -> str:
        """``kind`` is ``issues`` or ``pull``; ``ref`` is ``owner/name#number``."""
        repo, _, number = ref.partition("#")
        name = f"{repo}/{kind}/{number}" if number else ref
        return str(make_dataset_urn("github", escape(name), self.env))

    def evidence(self, sha256: str) -> str:
        return str(make_dataset_urn("chronicle", sha256, self.env))

    def knowledge(self, asset_ref: str) -> str:
        return str(make_dataset_urn("wiki", escape(asset_ref), self.env))

    def lineage(self, kind: str, name: str) -> str:
        """A declared dataset/feature/API/route; a name that is already a URN is kept."""
        if name.startswith("urn:li:"):
            return name
        return str(make_dataset_urn("fractalops", escape(f"{kind}/{name}"), self.env))

    def mcp_server(self, server: str) -> str:
        return str(make_data_flow_urn("mcp", escape(server), self.env))

    def tool(self, server: str, tool: str) -> str:
        return str(make_data_job_urn_with_flow(self.mcp_server(server), escape(tool)))

    def dataset(self, platform: str, name: str) -> str:
        """A dataset of the platform itself (a topic, a table, a projection store)."""
        return str(make_dataset_urn(platform, name, self.env))

    def flow(self, orchestrator: str, name: str) -> str:
        return str(make_data_flow_urn(orchestrator, name, self.env))

    def job(self, flow: str, name: str) -> str:
        return str(make_data_job_urn_with_flow(flow, escape(name)))
