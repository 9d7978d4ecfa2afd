"""Proof closure: the stateful processor that finds PRs merged without browser proof.

Two halves:

1. **The route plane** (``proof-closure``) runs in the engine like every plane: its
   pure projection picks the PR-level facts out of a batch — ``pr.merged`` and
   browser-proof ``evidence.recorded`` — and its store forwards them, re-keyed by
   PR ref, to an internal single-partition topic. The evidence for a PR may come
   from any run, so the state must be partitioned by PR, not by run; PR-level
   traffic is tiny, so one partition is plenty.
2. **The closing agent** (faust) reads that topic and owns a Table keyed by PR ref.
   A timer sends ``tick`` messages through the same topic, so windows expire even
   when no event arrives, and the table is only ever modified inside stream
   processing (as faust requires). A PR merged without ``browser_proof`` evidence
   within ``proof_window_s`` (wall clock after ``merged_at``) emits
   ``proof.gap.detected`` to ``fractalops.proof-gaps.v1``; evidence arriving later
   closes it with ``proof.gap.closed``.

The table's changelog topic makes the state survive a restart. Forwarded facts are
idempotent for the table (a merge time is set, the first evidence kept), and the
gap events have deterministic ids (UUIDv5 of PR ref and kind), so re-delivery
after a crash is deduplicated downstream by ``event_id``. The gap stream depends on
the wall clock: it is a derived alert stream, not a projection replay rebuilds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
import orjson
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from faust.types import StreamT

from processors.faust_config import faust_broker_url, faust_credentials
from processors.offsets import committed_offsets
from processors.settings import ProcessorSettings
from producers.settings import KafkaSettings
from schemas.codec import EventCodec
from schemas.envelope import Actor, ActorKind, Subject
from schemas.envelope import Producer as ProducerIdentity
from schemas.errors import BrokerUnavailableError, ConfigError
from schemas.events import Event, ProofGapClosed, ProofGapDetected
from sinks.base import Batch, Input, Watermark
from sinks.plane import Plane
from sinks.store import StoreBase

__all__ = [
    "GAP_NAMESPACE",
    "ProofClosureRuntime",
    "ProofFacts",
    "ProofFactsProjection",
    "awaits_window",
    "next_actions",
    "route_plane",
]

GAP_NAMESPACE = uuid.UUID("0d6f3c1e-6b8e-5a55-9a57-4b0f2f1f9a11")
NAME = "proof-closure"
_IDENTITY = ProducerIdentity(
    service="proofstream-proof-closure",
    version="1",
    workload_id="spiffe://fractalops.io/ns/proofstream/sa/proof-closure",
)
_ACTOR = Actor(kind=ActorKind.SYSTEM, id="proofstream-proof-closure", role="proof-closure")

ProofFacts = tuple[tuple[bytes, bytes], ...]
"""``(PR ref, fact JSON)`` pairs to forward, in log order."""


def next_actions(state: Mapping[str, Any], now_s: float, window_s: int) -> list[str]:
    """What a PR's state calls for now: ``detect`` and/or ``close``. Pure.

    ``state`` has ``merged_at`` (micros, or None until the merge is seen),
    ``evidence`` (sha256 or None), ``detected`` and ``closed`` flags.
    """
    actions: list[str] = []
    merged_at = state.get("merged_at")
    if merged_at is None:
        return actions
    expired = merged_at / 1e6 + window_s <= now_s
    if state.get("evidence") is None and expired and not state.get("detected"):
        actions.append("detect")
    if state.get("evidence") is not None and state.get("detected") and not state.get("closed"):
        actions.append("close")
    return actions


def awaits_window(state: Mapping[str, Any]) -> bool:
    """Whether only time can change what ``state`` calls for: merged, no proof yet,
    no gap detected. Every other state changes only when a fact for its PR arrives,
    so the timer need not look at it. Pure."""
    return (
        state.get("merged_at") is not None
        and state.get("evidence") is None
        and not state.get("detected")
    )


def _pr_fact(event_type: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The PR-level fact in an event, if any. Pure."""
    subject = record["subject"]
    if event_type == "pr.merged":
        return {
            "kind": "merged",
            "pr_ref": record["pr_ref"],
            "merged_at": record["merged_at"],
            "repository": subject.get("repository") or record["pr_ref"].split("#", 1)[0],
            "project": subject["project"],
        }
    if event_type == "evidence.recorded" and record["kind"] == "browser_proof":
        return {"kind": "evidence", "pr_ref": record["proves"], "sha256": record["sha256"]}
    return None


class ProofFactsProjection:
    """Pure: the PR-level facts of a batch, keyed by PR ref."""

    name = NAME
    version = 1
    reads: frozenset[str] | None = frozenset({"pr.merged", "evidence.recorded"})
    input = Input.EVENTS

    def project(self, batch: Batch) -> ProofFacts:
        out = []
        for event in batch.events:
            fact = _pr_fact(event.event_type, event.record)
            if fact is not None:
                out.append((str(fact["pr_ref"]).encode(), orjson.dumps(fact)))
        return tuple(out)


class ForwardStore(StoreBase[ProofFacts]):
    """Forwards facts to the internal by-PR topic (idempotent ``acks=all`` producer).

    Its output is Kafka, so its tracking record is Kafka's too: the watermark is the
    plane's committed group offset (written by the checkpoint's commit step right
    after ``flush`` waited for every acknowledgement).
    """

    def __init__(self, kafka: KafkaSettings, topic: str, group: str, replication: int) -> None:
        super().__init__(NAME)
        self._kafka = kafka
        self._topic = topic
        self._group = group
        _ensure_topic(kafka, topic, replication)
        self._producer = Producer(
            {**kafka.client_config(), "enable.idempotence": True, "acks": "all"}
        )
        self._errors: list[str] = []

    def _apply(self, writes: ProofFacts) -> None:
        for key, value in writes:
            self._producer.produce(self._topic, key=key, value=value, on_delivery=self._delivered)
            self._producer.poll(0)

    def _delivered(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            self._errors.append(str(err))

    def _persist(self, marks: Watermark) -> None:
        del marks  # recorded by the commit step (module docstring)
        remaining = self._producer.flush(30.0)
        errors, self._errors = self._errors, []
        if remaining or errors:
            raise BrokerUnavailableError(
                f"forwarding to {self._topic}: {remaining} left, {errors[:3]}"
            )

    def _load_watermark(self) -> Watermark:
        events = self._kafka.topics.events
        try:
            metadata = AdminClient(self._kafka.client_config()).list_topics(events, timeout=10)
        except KafkaException as exc:
            raise BrokerUnavailableError(f"cannot read the metadata of {events}: {exc}") from exc
        partitions = sorted(metadata.topics[events].partitions) if events in metadata.topics else []
        found = committed_offsets(self._kafka, self._group, events, partitions)
        return {(events, p): o - 1 for p, o in found.items() if o > 0}

    def _release(self) -> None:
        self._producer.flush(5.0)


def _ensure_topic(kafka: KafkaSettings, topic: str, replication: int) -> None:
    """Create the by-PR topic when missing, replicated as the table's changelog is
    (``topic_replication``): on a cluster, a single replica would lose proof closure's
    input with its broker."""
    admin = AdminClient(kafka.client_config())
    new = NewTopic(topic, num_partitions=1, replication_factor=replication)
    futures = admin.create_topics([new])
    try:
        futures[topic].result(timeout=30)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        if isinstance(error, KafkaError) and not error.retriable():
            # e.g. more replicas than brokers: no retry mends it
            raise ConfigError(f"cannot create {topic} (replication {replication}): {exc}") from exc
        raise BrokerUnavailableError(f"cannot create {topic}: {exc}") from exc


def by_pr_topic(settings: ProcessorSettings) -> str:
    return f"{settings.group_prefix}.{NAME}.by-pr"


def route_plane(kafka: KafkaSettings, settings: ProcessorSettings) -> Plane[ProofFacts]:
    """The route half of proof closure, as an engine plane (its consumer group is
    ``<prefix>.proof-closure.route``)."""
    group = f"{NAME}.route"  # the table's faust app is a member of <prefix>.proof-closure
    return Plane(
        name=NAME,
        projection=ProofFactsProjection(),
        open_store=lambda: ForwardStore(
            kafka,
            by_pr_topic(settings),
            f"{settings.group_prefix}.{group}",
            settings.topic_replication,
        ),
        group=group,
    )


class ProofClosureRuntime:
    """The closing agent: a faust App with the table, its agent and the timer."""

    def __init__(
        self,
        codec: EventCodec,
        kafka: KafkaSettings,
        settings: ProcessorSettings,
        *,
        datadir: Path,
    ) -> None:
        # the app id names the table's changelog topic: kept from earlier releases
        self.group_id = f"{settings.group_prefix}.{NAME}"
        (datadir / NAME).mkdir(parents=True, exist_ok=True)
        self._codec = codec
        self._window = settings.proof_window_s
        self.app = faust.App(
            self.group_id,
            broker=faust_broker_url(kafka),
            broker_credentials=faust_credentials(kafka),
            store="memory://",  # rebuilt from the changelog topic on start
            datadir=str(datadir / NAME),
            web_enabled=False,
            topic_replication_factor=settings.topic_replication,
            consumer_auto_offset_reset="earliest",
            # aiokafka refreshes metadata on NotLeader but not on KAFKA_STORAGE_ERROR: a
            # leader whose disk failed was fetched from until the periodic refresh (5 min
            # by default; docs/kafka-ops.md, findings)
            consumer_metadata_max_age_ms=10_000,
            producer_acks=-1,
            autodiscover=False,
        )
        self._by_pr = self.app.topic(
            by_pr_topic(settings), partitions=1, value_serializer="raw", key_serializer="raw"
        )
        self._gaps = kafka.topics.proof_gaps
        self.table = self.app.Table("pr-proof", default=dict, partitions=1)  # JSON values
        # the PRs a tick must look at (``awaits_window``): a few, where the table holds
        # every PR ever seen. Not in the changelog: built by the first tick after a
        # start from the recovered table, then kept up to date by ``_act``
        self._waiting: set[str] | None = None
        self.app.agent(self._by_pr, name="proof-closure-close")(self._close)
        self.app.timer(interval=settings.proof_tick_s)(self._tick)

    async def _tick(self) -> None:
        await self._by_pr.send(key=b"", value=orjson.dumps({"kind": "tick"}))

    async def _close(self, stream: StreamT[Any]) -> None:
        async for raw in stream:
            fact = orjson.loads(raw)
            if fact["kind"] == "tick":
                # only a tick expires windows of PRs no fact arrives for; a fact acts
                # on its own PR
                if self._waiting is None:
                    self._waiting = {k for k, v in self.table.items() if awaits_window(v)}
                await self._act(time.time(), sorted(self._waiting))
                continue
            state = dict(self.table[fact["pr_ref"]])
            if fact["kind"] == "merged":
                state.update(
                    merged_at=fact["merged_at"],
                    repository=fact["repository"],
                    project=fact["project"],
                )
            elif state.get("evidence") is None:
                state["evidence"] = fact["sha256"]
            self.table[fact["pr_ref"]] = state
            await self._act(time.time(), [fact["pr_ref"]])

    async def _act(self, now_s: float, pr_refs: list[str]) -> None:
        for pr_ref in pr_refs:
            state = dict(self.table[pr_ref])
            for action in next_actions(state, now_s, self._window):
                event = self._gap_event(pr_ref, state, action)
                # acknowledged before the state says so: a crash re-emits, never loses
                await self.app.producer.send_and_wait(
                    self._gaps, pr_ref.encode(), self._codec.encode(event), None, None, None
                )
                state["detected" if action == "detect" else "closed"] = True
                self.table[pr_ref] = state
            if self._waiting is not None:
                if awaits_window(state):
                    self._waiting.add(pr_ref)
                else:
                    self._waiting.discard(pr_ref)

    def _gap_event(self, pr_ref: str, state: Mapping[str, Any], action: str) -> Event:
        common: dict[str, Any] = {
            "event_id": uuid.uuid5(GAP_NAMESPACE, f"{pr_ref}/{action}"),
            "producer": _IDENTITY,
            "actor": _ACTOR,
            "subject": Subject(project=state["project"], repository=state["repository"]),
            "pr_ref": pr_ref,
            "repository": state["repository"],
            "merged_at": datetime.fromtimestamp(state["merged_at"] / 1e6, UTC),
            "window_seconds": self._window,
        }
        if action == "detect":
            return ProofGapDetected(**common)
        return ProofGapClosed(**common, evidence_sha256=state["evidence"])
