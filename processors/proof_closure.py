"""Proof closure: the stateful processor that finds PRs merged without browser proof.

A faust Table keyed by PR ref holds each merged PR's proof state. A PR merged
without ``browser_proof`` evidence within ``proof_window_s`` (wall clock after
``merged_at``) emits ``proof.gap.detected`` to ``fractalops.proof-gaps.v1``;
evidence that arrives later closes it with ``proof.gap.closed``.

Two agents, one consumer group (``<prefix>.proof-closure``):

1. ``route`` reads the event log (keyed by run) and forwards only ``pr.merged`` and
   browser-proof ``evidence.recorded`` facts, re-keyed by PR ref, to an internal
   single-partition topic: the evidence for a PR may come from any run, so the
   state must be partitioned by PR, not by run. PR-level traffic is tiny, so one
   partition is plenty and keeps the table co-partitioned with its stream.
2. ``close`` reads that topic and owns the Table. A timer sends ``tick`` messages
   through the same topic, so windows expire even when no event arrives, and the
   table is only ever modified inside stream processing (as faust requires).

The table's changelog topic makes the state survive a restart. The gap events have
deterministic ids (UUIDv5 of PR ref and kind), so re-emitting after a crash is
deduplicated downstream by ``event_id``. The gap stream depends on the wall clock;
it is a derived alert stream, not a projection that replay rebuilds.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
import orjson
from faust.types import StreamT

from processors.app import faust_broker_url, faust_credentials
from processors.settings import ProcessorSettings
from producers.settings import KafkaSettings
from schemas.codec import EventCodec
from schemas.envelope import Actor, ActorKind, Producer, Subject
from schemas.errors import DecodeError
from schemas.events import Event, ProofGapClosed, ProofGapDetected

__all__ = ["GAP_NAMESPACE", "ProofClosureRuntime", "next_actions"]

GAP_NAMESPACE = uuid.UUID("0d6f3c1e-6b8e-5a55-9a57-4b0f2f1f9a11")
_IDENTITY = Producer(
    service="proofstream-proof-closure",
    version="1",
    workload_id="spiffe://fractalops.io/ns/proofstream/sa/proof-closure",
)
_ACTOR = Actor(kind=ActorKind.SYSTEM, id="proofstream-proof-closure", role="proof-closure")


def next_actions(state: dict[str, Any], now_s: float, window_s: int) -> list[str]:
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


class ProofClosureRuntime:
    """The proof-closure faust App: routing agent, closing agent, table and timer."""

    def __init__(
        self,
        codec: EventCodec,
        kafka: KafkaSettings,
        settings: ProcessorSettings,
        *,
        datadir: Path,
    ) -> None:
        self.name = "proof-closure"
        self.group_id = f"{settings.group_prefix}.{self.name}"
        (datadir / self.name).mkdir(parents=True, exist_ok=True)
        self._codec = codec
        self._window = settings.proof_window_s
        self.app = faust.App(
            self.group_id,
            broker=faust_broker_url(kafka),
            broker_credentials=faust_credentials(kafka),
            store="memory://",  # rebuilt from the changelog topic on start
            datadir=str(datadir / self.name),
            web_enabled=False,
            topic_replication_factor=settings.topic_replication,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            autodiscover=False,
        )
        self.emitted: list[str] = []
        source = self.app.topic(kafka.topics.events, value_serializer="raw", key_serializer="raw")
        self._by_pr = self.app.topic(  # internal: faust creates it, with one partition
            f"{self.group_id}.by-pr",
            partitions=1,
            internal=True,
            value_serializer="raw",
            key_serializer="raw",
        )
        self._gaps = kafka.topics.proof_gaps
        self.table = self.app.Table("pr-proof", default=dict, partitions=1)  # JSON values
        self.app.agent(source, name="proof-closure-route")(self._route)
        self.app.agent(self._by_pr, name="proof-closure-close")(self._close)
        self.app.timer(interval=settings.proof_tick_s)(self._tick)

    async def _route(self, stream: StreamT[Any]) -> None:
        async for raw in stream:
            try:
                record = self._codec.decode_record(raw)
            except DecodeError:
                continue  # the projections dead-letter it; nothing to route
            fact = _pr_fact(record)
            if fact is not None:
                await self._by_pr.send(key=fact["pr_ref"].encode(), value=orjson.dumps(fact))

    async def _tick(self) -> None:
        await self._by_pr.send(key=b"", value=orjson.dumps({"kind": "tick"}))

    async def _close(self, stream: StreamT[Any]) -> None:
        async for raw in stream:
            fact = orjson.loads(raw)
            if fact["kind"] != "tick":
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
            await self._act(time.time())

    async def _act(self, now_s: float) -> None:
        for pr_ref, stored in list(self.table.items()):
            state = dict(stored)
            for action in next_actions(state, now_s, self._window):
                event = self._gap_event(pr_ref, state, action)
                # acknowledged before the state says so: a crash re-emits, never loses
                await self.app.producer.send_and_wait(
                    self._gaps, pr_ref.encode(), self._codec.encode(event), None, None, None
                )
                self.emitted.append(f"{event.event_type}:{pr_ref}")
                state["detected" if action == "detect" else "closed"] = True
                self.table[pr_ref] = state

    def _gap_event(self, pr_ref: str, state: dict[str, Any], action: str) -> Event:
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


def _pr_fact(record: dict[str, Any]) -> dict[str, Any] | None:
    """The PR-level fact in an event, if any. Pure."""
    event_type = record["event_type"]
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
