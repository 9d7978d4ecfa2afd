"""The identities one ``project`` call mints: each described once per distinct key.

An identity (a project, a repository, an agent, a role, a squad, a run attempt, an
issue or pull request, an evidence artifact, a tool) is an IRI of
:class:`~sinks.identity.vocabulary.IdentityIris` plus the triples that describe
it. :class:`Identities` remembers, for one call only, which keys it has already
minted, so a batch in which the same agent acts a thousand times describes it
once. Pure: nothing survives the call that made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sinks.identity.vocabulary import (
    FO,
    PROV,
    RDF_TYPE,
    REF,
    XSD_INTEGER,
    IdentityIris,
    Lit,
    Triple,
)

__all__ = [
    "KEY",
    "PROJECT",
    "REPOSITORY",
    "TEAM_TYPE",
    "TYPE",
    "USED",
    "Envelope",
    "Identities",
]

TYPE: Final = RDF_TYPE
KEY: Final = FO + "key"
PROJECT: Final = FO + "project"
REPOSITORY: Final = FO + "repository"
TEAM_TYPE: Final = FO + "teamType"
USED: Final = PROV + "used"
_ACTOR_CLASS = {"agent": FO + "Agent", "human": FO + "Person"}


@dataclass(frozen=True, slots=True)
class Envelope:
    """The identities of one distinct envelope, which every handler may link to: the
    ``project`` key and IRIs of the project (``p``), repository (``r``), actor
    (``a``) and run attempt (``x``, the activity), and the actor's team type;
    ``index`` numbers the envelope within the call."""

    index: int
    project: str
    p: str
    r: str | None
    a: str
    x: str | None
    team: str | None


class Identities:
    """One ``project`` call's working memory: the triples so far (``out``) and the
    identities already minted. Each identity method returns an IRI and adds the
    triples that describe it the first time its key is seen in the call."""

    def __init__(self, iris: IdentityIris) -> None:
        self.iris = iris
        self.out: set[Triple] = set()
        self.add = self.out.add
        self._known: dict[tuple[object, ...], str] = {}

    def envelope(
        self, subject: Mapping[str, Any], actor: Mapping[str, Any], index: int
    ) -> Envelope:
        """The identities of an event's envelope, described; ``index`` numbers it in the call."""
        add = self.add
        project = str(subject["project"])
        p = self.project(project)
        repository = subject.get("repository")
        r = None
        if repository:
            r = self.repo(str(repository))
            add((r, PROJECT, p))
        a = self.agent(actor)
        team = actor.get("team_type")
        team = str(team) if team is not None else None
        add((a, FO + "role", self.role(team, str(actor["role"]))))
        squad = None
        if team is not None:
            squad = self.squad(project, p, team, int(subject.get("generation", 0)))
            add((a, PROV + "actedOnBehalfOf", squad))
        x = None
        run_id = subject.get("run_id")
        if run_id:
            x = self.run_attempt(project, p, str(run_id), int(subject.get("attempt", 1)))
            if r is not None:
                add((x, REPOSITORY, r))
            add((x, PROV + "wasAssociatedWith", a))
            if squad is not None:
                add((x, FO + "squadGeneration", squad))
        return Envelope(index, project, p, r, a, x, team)

    # --- identities, described once per call ------------------------------------------------

    def _entity(self, key: tuple[object, ...]) -> str | None:
        return self._known.get(key)

    def _mint(self, key: tuple[object, ...], iri: str, cls: str, natural: str | None) -> str:
        self._known[key] = iri
        self.add((iri, TYPE, FO + cls))
        if natural is not None:
            self.add((iri, KEY, Lit(natural)))
        return iri

    def project(self, name: str) -> str:
        key = ("project", name)
        return self._entity(key) or self._mint(key, self.iris.project(name), "Project", name)

    def repo(self, full_name: str) -> str:
        key = ("repo", full_name)
        iri = self._entity(key)
        if iri is None:
            iri = self._mint(key, self.iris.repository(full_name), "Repository", full_name)
        return iri

    def agent(self, actor: Mapping[str, Any]) -> str:
        kind, actor_id = str(actor.get("kind", "agent")), str(actor["id"])
        key = ("agent", kind, actor_id)
        iri = self._entity(key)
        if iri is None:
            iri = self.iris.agent(actor)
            self._known[key] = iri
            self.add((iri, TYPE, _ACTOR_CLASS.get(kind, FO + "SystemActor")))
            self.add((iri, KEY, Lit(actor_id)))
        return iri

    def role(self, team: str | None, name: str) -> str:
        key = ("role", team, name)
        iri = self._entity(key)
        if iri is None:
            iri = self._mint(key, self.iris.role(team, name), "Role", name)
            if team is not None:
                self.add((iri, TEAM_TYPE, FO + team))
        return iri

    def squad(self, project: str, p: str, team: str, generation: int) -> str:
        key = ("squad", project, team, generation)
        iri = self._entity(key)
        if iri is None:
            iri = self._mint(key, self.iris.squad(project, team, generation), "Squad", None)
            self.add((iri, PROJECT, p))
            self.add((iri, TEAM_TYPE, FO + team))
            self.add((iri, FO + "generation", Lit(str(generation), XSD_INTEGER)))
        return iri

    def run_attempt(self, project: str, p: str, run_id: str, attempt: int) -> str:
        key = ("run", project, run_id, attempt)
        x = self._entity(key)
        if x is None:
            x = self._mint(key, self.iris.run_attempt(project, run_id, attempt), "RunAttempt", None)
            run = self.iris.run(project, run_id)
            self.add((run, KEY, Lit(run_id)))
            self.add((x, FO + "attempt", Lit(str(attempt), XSD_INTEGER)))
            self.add((x, FO + "attemptOf", run))
            self.add((x, PROJECT, p))
        return x

    def github(self, kind: str, ref: str) -> str:
        """An issue or PR (``kind`` ``"issue"``/``"pr"``) by its ref ``owner/name#number``."""
        key = ("github", kind, ref)
        iri = self._entity(key)
        if iri is None:
            cls = "PullRequest" if kind == "pr" else "Issue"
            iri = self._mint(key, self.iris.github(kind, ref), cls, ref)
            match = REF.match(ref)
            if match is not None:
                self.add((iri, REPOSITORY, self.repo(f"{match['owner']}/{match['name']}")))
        return iri

    def evidence(self, sha: str) -> str:
        key = ("evidence", sha)
        iri = self._entity(key)
        return iri or self._mint(key, self.iris.evidence(sha), "EvidenceArtifact", sha)

    def tool(self, server: str, name: str) -> str:
        key = ("tool", server, name)
        tool = self._entity(key)
        if tool is None:
            tool = self._mint(key, self.iris.iri("tool", server, name), "Tool", f"{server}/{name}")
            mcp = self._mint(("mcp", server), self.iris.iri("mcp", server), "McpServer", server)
            self.add((tool, FO + "server", mcp))
        return tool

    def generated(self, ctx: Envelope, entity: str) -> None:
        # Attribution to the agent follows from the run's association; it is only
        # written when there is no run to go through.
        if ctx.x is not None:
            self.add((entity, PROV + "wasGeneratedBy", ctx.x))
        else:
            self.add((entity, PROV + "wasAttributedTo", ctx.a))
