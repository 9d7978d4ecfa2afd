"""faust glue: one faust App per projection, each its own consumer group.

A projection that lags (a slow sink, a rebuild) never holds back the others,
because every projection commits its own offsets. All the apps run in one worker
process (``processors.worker``); only the first serves the web API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT, StreamT
from opentelemetry import metrics, trace

from processors.checkpoint import (
    Checkpointer,
    CheckpointResult,
    DeadLetter,
    RawRecord,
    RetryPolicy,
)
from processors.dlq import dead_letter_headers
from processors.offsets import align_group_offsets
from processors.settings import ProcessorSettings
from processors.telemetry import CheckpointTelemetry
from producers.settings import KafkaSettings
from schemas.codec import EventCodec
from schemas.errors import BrokerUnavailableError, RetryableError
from sinks.base import LogPosition, Sink

__all__ = ["ProjectionRuntime", "faust_broker_url", "faust_credentials"]


def faust_broker_url(kafka: KafkaSettings) -> str:
    """``kafka://host:port;host:port`` from the librdkafka bootstrap list. Pure."""
    hosts = [h.strip() for h in kafka.bootstrap_servers.split(",") if h.strip()]
    return ";".join(f"kafka://{h}" for h in hosts)


def faust_credentials(kafka: KafkaSettings) -> Any:
    """faust's credentials from the Kafka settings: SASL (over TLS for SASL_SSL), TLS
    alone for SSL, ``None`` for PLAINTEXT."""
    context = kafka.ssl_context()  # None unless SSL or SASL_SSL
    if kafka.sasl_mechanism in (None, "OAUTHBEARER") or kafka.sasl_username is None:
        return None if context is None else faust.SSLCredentials(context)
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=password,
        mechanism=kafka.sasl_mechanism,
        ssl_context=context,
    )


class _FaustDeadLetters:
    """DLQ port on the app's own producer; returns after Kafka acknowledged."""

    def __init__(self, app: faust.App, topic: str) -> None:
        self._app = app
        self._topic = topic

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        try:
            pending = [
                await self._app.producer.send(
                    self._topic,
                    letter.record.key,
                    letter.record.value,
                    None,
                    None,
                    dead_letter_headers(letter),
                )
                for letter in letters
            ]
            await asyncio.gather(*pending)
        except Exception as exc:  # aiokafka raises its own tree; translate at the boundary
            raise BrokerUnavailableError(f"DLQ {self._topic}: {exc}") from exc


class ProjectionRuntime:
    """One projection live: a faust App, its agent, its sink and its checkpointer.

    ``open_sink`` is called once, on the sink's own thread."""

    def __init__(
        self,
        open_sink: Callable[[], Sink],
        codec: EventCodec,
        kafka: KafkaSettings,
        settings: ProcessorSettings,
        *,
        datadir: Path,
        web: bool = False,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        # Sinks on SQLite or chDB must be used from the thread that opened them: open
        # it on its own executor thread, where every later call of it runs too.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="sink")
        sink = self.executor.submit(open_sink).result()
        self.name = sink.name
        self.group_id = f"{settings.group_prefix}.{sink.name}"
        # resume where the store's data ends (a wiped or restored store, an old group)
        self.realigned = align_group_offsets(
            kafka, self.group_id, kafka.topics.events, self.executor.submit(sink.watermark).result()
        )
        self.last: CheckpointResult | None = None
        (datadir / sink.name).mkdir(parents=True, exist_ok=True)
        self.dead_letters = 0
        self.app = faust.App(
            self.group_id,
            broker=faust_broker_url(kafka),
            broker_credentials=faust_credentials(kafka),
            store="memory://",
            datadir=str(datadir / sink.name),
            web_enabled=web,
            web_host=settings.web_host,
            web_port=settings.web_port,
            web_in_thread=False,
            topic_replication_factor=settings.topic_replication,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            autodiscover=False,
        )
        self._topic = kafka.topics.events
        self._applied: dict[int, int] = {}
        self.telemetry = CheckpointTelemetry(
            sink.name, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        self.telemetry.observe_lag(self._lag)
        self.checkpointer = Checkpointer(
            sink,
            codec,
            _FaustDeadLetters(self.app, kafka.topics.dlq),
            self.executor,
            retry=RetryPolicy(settings.retry_initial_s, settings.retry_max_s),
            stopping=lambda: bool(self.app.should_stop),
            telemetry=self.telemetry,
        )
        source = self.app.topic(kafka.topics.events, value_serializer="raw", key_serializer="raw")
        self.app.agent(source, name=f"{sink.name}-projection")(self._project)
        self._batch_max = settings.batch_max
        self._within = settings.batch_within_s

    async def _project(self, stream: StreamT[Any]) -> None:
        # noack_take: acks are step 4 of the checkpoint, not faust's choice
        assert isinstance(stream, faust.Stream)
        async for events in stream.noack_take(self._batch_max, within=self._within):
            batch: list[EventT[Any]] = list(events)

            async def commit(batch: list[EventT[Any]] = batch) -> None:
                for event in batch:
                    await stream.ack(event)
                await self.app.consumer.commit()

            try:
                self.last = await self.checkpointer.run([_raw(e) for e in batch], commit)
            except RetryableError:
                if self.app.should_stop:
                    return  # uncommitted: the batch is read again after restart
                raise
            self.dead_letters += self.last.dead
            for position in self.last.positions:
                if position.offset > self._applied.get(position.partition, -1):
                    self._applied[position.partition] = position.offset

    def _lag(self) -> dict[int, int]:
        """Records behind the high watermark, per partition (read by the metrics thread)."""
        lags = {}
        for partition, offset in list(self._applied.items()):
            try:
                high = self.app.consumer.highwater(TP(self._topic, partition))
            except Exception:  # noqa: S112 - not started or rebalancing: skip this reading
                continue
            if high is not None:
                lags[partition] = max(0, high - offset - 1)
        return lags

    def sink(self) -> Sink:
        return self.checkpointer.sink

    async def call_sink(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` on the sink's own thread (chDB must not be shared across threads)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)


def _raw(event: EventT[Any]) -> RawRecord:
    message = event.message
    headers: Any = message.headers or ()
    items: Iterable[tuple[str, Any]] = headers.items() if isinstance(headers, Mapping) else headers
    return RawRecord(
        position=LogPosition(message.topic, message.partition, message.offset),
        key=message.key,
        value=message.value,
        headers=tuple((str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in items),
        timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
    )
