"""``IdentityProjection``: the pure mapping from a batch of decoded events to RDF triples.

The Mapper half of the Semantics plane (the Recorder is
:class:`sinks.identity.store.RdfStore`). It does no I/O, holds no state between
calls and imports no RDF library; the terms and IRIs are in
:mod:`sinks.identity.vocabulary`. A run attempt is a ``prov:Activity``, an agent a
``prov:Agent`` acting on behalf of its squad generation, issues, pull requests,
evidence and lineage assets are ``prov:Entity``.

What it writes: **identities and relations only** (the seed's rule for the
Semantics plane: no bulk telemetry). Never durations, counts, sizes, retries,
per-event timestamps, digests of tool input/output, titles or free text; the
only literals are natural keys (``fo:key``), the attempt and generation numbers
that are part of an identity, the evidence kind and an evidence artifact's own
sha256 (its identity).

The output is a *set*: the same batch, any redelivery of it, or any other cut of
the same events yields the same triples. Most of an event's identities repeat
(the same project, repository, agent, squad and run for many events), so within
one call every identity is minted and described once per distinct key, and an
event whose envelope and handler inputs were already seen in the batch adds
nothing new and is skipped. The memo lives in an
:class:`~sinks.identity.identities.Identities` made per call: nothing survives
the call. Remembering what earlier batches wrote is the store's business. What
each event type adds beyond its envelope is in :mod:`sinks.identity.handlers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, Final

from schemas.events import EVENT_TYPES
from sinks.base import Batch, Input, LoggedEvent
from sinks.identity.handlers import HANDLERS
from sinks.identity.identities import Envelope, Identities
from sinks.identity.vocabulary import DEFAULT_BASE_IRI, IdentityIris, Triple

__all__ = ["PROJECTION_VERSION", "IdentityProjection", "IdentityWrites"]

PROJECTION_VERSION: Final = 1
"""Bumped when the mapping changes (recorded with every rebuilt generation)."""

IdentityWrites = frozenset[Triple]
"""What the projection hands its store: the distinct identity triples of a batch."""

_SUBJECT_KEY = itemgetter("project", "repository", "run_id", "attempt", "generation")
_ACTOR_KEY = itemgetter("kind", "id", "team_type", "role")
"""Every envelope field an envelope's triples depend on (C-level: this runs per event)."""


def _envelope_key(subject: Mapping[str, Any], actor: Mapping[str, Any]) -> tuple[object, ...]:
    return (
        (
            subject["project"],
            subject.get("repository"),
            subject.get("run_id"),
            subject.get("attempt", 1),
            subject.get("generation", 0),
        ),
        (actor.get("kind", "agent"), actor["id"], actor.get("team_type"), actor["role"]),
    )


class IdentityProjection:
    """Maps events to identity triples (see the module docstring). Pure and stateless.

    ``reads`` is every event type: each one's envelope names a project, an actor
    and its role, and usually a run, which are identities (``run.finished`` adds
    nothing beyond them: its outcome and duration are telemetry).
    """

    name: Final = "identity"
    version: Final = PROJECTION_VERSION
    input: Final = Input.EVENTS
    reads: Final = frozenset(EVENT_TYPES)

    def __init__(self, base_iri: str = DEFAULT_BASE_IRI) -> None:
        self.iris = IdentityIris(base_iri)

    def project(self, batch: Batch) -> IdentityWrites:
        """Every identity triple of ``batch.events``, deduplicated. Pure."""
        return frozenset(_project(Identities(self.iris), batch.events))


def _project(identities: Identities, events: Sequence[LoggedEvent]) -> set[Triple]:
    envelopes: dict[tuple[object, ...], Envelope] = {}
    handled: set[tuple[object, ...]] = set()
    for item in events:
        record = item.record
        subject, actor = record["subject"], record["actor"]
        try:
            key: tuple[object, ...] = (_SUBJECT_KEY(subject), _ACTOR_KEY(actor))
        except KeyError:  # a record built by hand, without its optional fields
            key = _envelope_key(subject, actor)
        envelope = envelopes.get(key)
        if envelope is None:
            envelope = envelopes[key] = identities.envelope(subject, actor, len(envelopes))
        handler = HANDLERS.get(item.event_type)
        if handler is None:
            continue
        if handler.inputs is not None:
            # a handler's triples depend on its envelope and these fields only
            seen = (item.event_type, envelope.index, handler.inputs_of(record))
            if seen in handled:
                continue
            handled.add(seen)
        handler.handle(identities, envelope, record)
    return identities.out
