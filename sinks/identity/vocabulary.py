"""The identity plane's vocabulary: terms, IRIs of natural keys, and the canonical form.

Pure and dependency-free (no RDF library): a triple is a plain tuple
``(subject IRI, predicate IRI, object)`` whose object is an IRI (``str``) or a
:class:`Lit`. The vocabulary is the FractalOps ontology shipped in
``schemas/ontology/fractalops.ttl`` (aligned with W3C PROV-O).

IRIs are deterministic functions of natural keys under a base IRI (default
``https://fractalops.io/id/``); every key segment is percent-encoded, so no key
can escape its segment or produce an invalid IRI (:class:`IdentityIris`)::

    project/{project}                      repo/{owner}/{name}
    run/{project}/{run_id}/attempt/{n}     run/{project}/{run_id}
    agent/{actor.id}   person/{id}   system/{id}
    squad/{project}/{team_type}/{generation}        role/{team_type}/{role}
    pr/{owner}/{name}/{number}             issue/{owner}/{name}/{number}
    commit/{owner}/{name}/{sha}            evidence/{sha256}
    tool/{mcp_server}/{tool}               mcp/{mcp_server}
    workspace/{id}                         browser/{id}
    proposal/{project}/{id}                knowledge/{project}/{asset_ref}
    dataset|feature|api|route/{name}       ref/{anything else}

These IRIs, the N-Triples form (:func:`ntriples_line`) and the digest
(:func:`canonical_digest`) are what stores on disk and replay digests are made
of: changing any of them changes every stored graph.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import quote

__all__ = [
    "DEFAULT_BASE_IRI",
    "FO",
    "PROV",
    "RDF_TYPE",
    "REF",
    "XSD",
    "XSD_INTEGER",
    "XSD_STRING",
    "IdentityIris",
    "Lit",
    "Term",
    "Triple",
    "canonical_digest",
    "ntriples_line",
]

DEFAULT_BASE_IRI: Final = "https://fractalops.io/id/"
FO: Final = "https://fractalops.io/ns/fo#"
PROV: Final = "http://www.w3.org/ns/prov#"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD_STRING: Final = XSD + "string"
XSD_INTEGER: Final = XSD + "integer"

REF: Final = re.compile(r"^(?P<owner>[^/#\s]+)/(?P<name>[^/#\s]+)#(?P<number>[0-9]+)$")
"""A GitHub issue or pull request ref, ``owner/name#number``."""

_BASE_IRI = re.compile(r"^https?://[^\s<>\"{}|\\^`]+/$")


class Lit(NamedTuple):
    """An RDF literal: lexical value and datatype IRI (``xsd:string`` for plain text).

    A tuple, so hashing and comparing triples stays in C on the hot path."""

    value: str
    datatype: str = XSD_STRING


Term = str | Lit
"""An RDF term: an IRI (``str``) or a literal. There are no blank nodes."""
Triple = tuple[str, str, Term]
"""``(subject IRI, predicate IRI, object)``."""


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
"""What ``quote`` never encodes: a segment of only these is its own encoding."""


def _seg(value: object) -> str:
    # safe="" encodes '/', so a key like 'a/b' can never add a path segment.
    text = str(value)
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="")


class IdentityIris:
    """The IRIs of natural keys under ``base_iri`` (see the module docstring). Pure.

    Raises ``ValueError`` for a base IRI that is not http(s) or does not end in '/'.
    """

    def __init__(self, base_iri: str = DEFAULT_BASE_IRI) -> None:
        if not _BASE_IRI.match(base_iri):
            raise ValueError(f"base IRI must be an http(s) IRI ending in '/': {base_iri!r}")
        self.base_iri = base_iri

    def iri(self, *segments: object) -> str:
        """``<base>seg1/seg2/...`` with every segment percent-encoded."""
        return self.base_iri + "/".join(_seg(s) for s in segments)

    def project(self, name: str) -> str:
        return self.iri("project", name)

    def repository(self, full_name: str) -> str:
        owner, _, name = full_name.partition("/")
        return self.iri("repo", owner, name) if name else self.iri("repo", full_name)

    def run(self, project: str, run_id: str) -> str:
        """The run (all its attempts), keyed by its run id."""
        return self.iri("run", project, run_id)

    def run_attempt(self, project: str, run_id: str, attempt: int) -> str:
        return self.iri("run", project, run_id, "attempt", attempt)

    def agent(self, actor: Mapping[str, Any]) -> str:
        kind = str(actor.get("kind", "agent"))
        prefix = {"agent": "agent", "human": "person"}.get(kind, "system")
        return self.iri(prefix, actor["id"])

    def squad(self, project: str, team_type: str, generation: int) -> str:
        return self.iri("squad", project, team_type, generation)

    def role(self, team_type: str | None, role: str) -> str:
        return self.iri("role", team_type or "none", role)

    def github(self, kind: str, ref: str) -> str:
        """A PR (``kind="pr"``) or issue IRI for a ref ``owner/name#number``."""
        match = REF.match(ref)
        if match is None:
            return self.iri("ref", ref)
        return self.iri(kind, match["owner"], match["name"], match["number"])

    def evidence(self, sha256: str) -> str:
        return self.iri("evidence", sha256)

    def claim(self, ref: str) -> str:
        """What a piece of evidence proves: a PR when ``ref`` is a PR ref, else a ref IRI."""
        return self.github("pr", ref)


# --- canonical form and digest -------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}
_ESCAPE_RE = re.compile(r'[\\"\n\r]')


def ntriples_line(triple: Triple) -> str:
    """One N-Triples line for ``triple`` (without the newline). Pure.

    Canonical: ``xsd:string`` literals are written without a datatype (RDF 1.1),
    so the same graph renders the same whatever store it was read from.
    """
    s, p, o = triple
    if isinstance(o, Lit):
        text = _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], o.value)
        obj = f'"{text}"' if o.datatype == XSD_STRING else f'"{text}"^^<{o.datatype}>'
    else:
        obj = f"<{o}>"
    return f"<{s}> <{p}> {obj} ."


def canonical_digest(triples: Iterable[Triple]) -> str:
    """SHA-256 (hex) of the sorted, deduplicated N-Triples lines of ``triples``. Pure.

    Order-independent: a graph rebuilt by replay in any batch cut has the same
    digest as the live one exactly when both hold the same triples (there are no
    blank nodes to canonicalise).
    """
    digest = hashlib.sha256()
    for line in sorted({ntriples_line(t) for t in triples}):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
