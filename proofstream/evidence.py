"""Producer-side claim check: store an evidence artifact, then emit its digest.

Composition-root glue: it needs both the Chronicle store (``sinks``) and the
producer (``producers``), which must not import each other.
"""

from __future__ import annotations

from typing import Any, Protocol

from schemas.envelope import Actor, Producer, Subject
from schemas.events import Event, EvidenceKind, EvidenceRecorded
from sinks.evidence.artifacts import ArtifactStore

__all__ = ["Emitter", "record_evidence"]


class Emitter(Protocol):
    """What ``record_evidence`` emits through: ``producers.EventProducer`` or a fake."""

    def emit(self, event: Event) -> Any: ...


def record_evidence(
    store: ArtifactStore,
    producer: Emitter,
    data: bytes,
    *,
    kind: EvidenceKind | str,
    proves: str,
    media_type: str,
    source: Producer,
    actor: Actor,
    subject: Subject,
    uri: str | None = None,
    **envelope: Any,
) -> EvidenceRecorded:
    """Store ``data`` in Chronicle, then emit ``evidence.recorded`` carrying its digest.

    Order matters: the artifact is durable before any event can point at it, so a
    consumer never sees a digest Chronicle cannot serve. Safe to retry: ``put`` is
    idempotent, and re-emitting with the same ``event_id`` (pass it in
    ``envelope``) is deduplicated by every projection. Raises the store's
    :class:`~sinks.evidence.ChronicleError`, the model's ``InvalidEventError``, or
    the producer's delivery errors; on a producer error the artifact stays stored
    (harmless: content-addressed, and a retry finds it).
    """
    sha256 = store.put(data)
    event = EvidenceRecorded(
        producer=source,
        actor=actor,
        subject=subject,
        sha256=sha256,
        media_type=media_type,
        size_bytes=len(data),
        kind=EvidenceKind(kind),
        proves=proves,
        uri=uri,
        **envelope,
    )
    producer.emit(event)
    return event
