"""``proofstream emit`` and ``proofstream tail``: put events in, watch them come out.

``emit`` reads JSON lines (one event per line, ``{"event_type": "run.started", ...}``
in the form :func:`schemas.jsonio.event_to_json` writes), rejects bad lines with
``line N: <field>: <reason>`` on stderr, and sends the good ones with the
:class:`~producers.EventProducer`. ``tail`` reads the events topic by explicit
partition assignment (no consumer group, nothing committed), so it never moves
anyone's offsets.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any, TextIO

import orjson
import typer
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaException,
    Message,
    TopicPartition,
)

from producers import EventProducer, encode_event, ensure_topics
from proofstream.cli.common import console, console_error, settings_of
from proofstream.text import iso_utc
from schemas.codec import EventCodec
from schemas.errors import DecodeError, InvalidEventError, ProofstreamError
from schemas.events import Event
from schemas.jsonio import event_from_json, event_to_json

__all__ = ["emit", "parse_lines", "summarize", "tail"]

EMIT_CHUNK = 500
"""Events per ``emit_many`` call: big enough for librdkafka batching, small enough
that a failure leaves little to resend."""

_ENVELOPE = frozenset(Event.model_fields) | {"event_type"}


def parse_lines(
    lines: Iterator[str], codec: EventCodec, max_event_bytes: int
) -> Iterator[tuple[int, Event | InvalidEventError]]:
    """Each non-blank line as ``(line number, event or the reason it is rejected)``.

    Pure. A line is rejected when it is not JSON, fails the model (the field is
    named), or its encoding exceeds ``max_event_bytes``: the same checks ``emit``
    runs, so the good lines are exactly those the producer will accept.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = event_from_json(orjson.loads(line))
            encode_event(event, codec, max_event_bytes)
        except orjson.JSONDecodeError as exc:
            yield number, InvalidEventError("<json>", str(exc))
        except InvalidEventError as exc:
            yield number, exc
        else:
            yield number, event


def emit(
    ctx: typer.Context,
    file: str = typer.Option("-", "--file", "-f", help="JSON-lines file of events; - is stdin."),
    topic: str | None = typer.Option(
        None, "--topic", help="Send here instead of the events topic."
    ),
) -> None:
    """Validate JSON-lines events and send the good ones, acknowledged by the broker.

    Bad lines are reported as ``line N: <field>: <reason>`` on stderr and skipped.
    Exit code 0 when every line was sent, 1 when some were rejected, 2 when
    delivery failed (events up to the failing chunk were sent; resending is safe,
    consumers deduplicate by event_id).
    """
    settings = settings_of(ctx)
    codec = EventCodec(max_event_bytes=settings.producer.max_event_bytes)
    stream: TextIO = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115
    good: list[Event] = []
    rejected = 0
    with stream:
        for number, outcome in parse_lines(iter(stream), codec, settings.producer.max_event_bytes):
            if isinstance(outcome, InvalidEventError):
                rejected += 1
                typer.echo(f"line {number}: {outcome.field}: {outcome.reason}", err=True)
            else:
                good.append(outcome)
    sent = spooled = 0
    try:
        if topic is None and good:
            ensure_topics(settings.kafka)
        with EventProducer(settings.kafka, settings.producer, codec, topic=topic) as producer:
            for start in range(0, len(good), EMIT_CHUNK):
                for delivery in producer.emit_many(good[start : start + EMIT_CHUNK]):
                    if delivery.spooled:
                        spooled += 1
                    else:
                        sent += 1
    except ProofstreamError as exc:
        console_error(f"delivery failed after {sent} events: {exc}")
        typer.echo(f"sent {sent}, spooled {spooled}, rejected {rejected}", err=True)
        raise typer.Exit(2) from exc
    summary = f"sent {sent}, rejected {rejected}"
    if spooled:
        summary += f", spooled {spooled} (broker unreachable; drained on the next run)"
    console.print(summary, highlight=False)
    raise typer.Exit(1 if rejected else 0)


def summarize(event: Event, partition: int, offset: int) -> str:
    """One readable line: time, type, run, actor, then the payload fields. Pure."""
    payload = []
    for name, value in event:
        if name in _ENVELOPE or value is None:
            continue
        text = value.value if hasattr(value, "value") else str(value)
        text = str(text)
        payload.append(f"{name}={text if len(text) <= 60 else text[:57] + '...'}")
    subject = event.subject
    return (
        f"{iso_utc(event.occurred_at, 'milliseconds')}  {event.event_type:<24} "
        f"run={subject.run_id or '-'} project={subject.project} "
        f"actor={event.actor.kind.value}:{event.actor.id}({event.actor.role})  "
        f"{' '.join(payload)}  [{partition}@{offset}]"
    )


def _header(msg: Message, name: str) -> str | None:
    headers = msg.headers() or []
    for key, value in headers.items() if isinstance(headers, dict) else headers:
        if key == name and isinstance(value, bytes):
            return value.decode(errors="replace")
    return None


def tail(  # noqa: PLR0917 - Typer maps each parameter to an option
    ctx: typer.Context,
    from_beginning: bool = typer.Option(
        False, "--from-beginning", help="Start at the oldest record instead of new ones."
    ),
    types: list[str] = typer.Option(  # noqa: B008 - Typer declares options this way
        [], "--type", help="Only this event type (repeatable), e.g. run.started."
    ),
    json_out: bool = typer.Option(False, "--json", help="One JSON event per line."),
    max_events: int | None = typer.Option(None, "--max", min=1, help="Stop after N events."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Stop after S seconds idle."),
    topic: str | None = typer.Option(None, "--topic", help="Read this topic instead."),
) -> None:
    """Print events from the events topic as they arrive, decoded.

    Reads every partition by explicit assignment with ``enable.auto.commit=false``:
    no group, no committed offsets. Undecodable records print as
    ``<undecodable P/O: reason>`` and do not stop the tail. Stops after ``--max``
    events or ``--timeout`` seconds without a record.
    """
    settings = settings_of(ctx)
    name = topic or settings.kafka.topics.events
    codec = EventCodec()
    wanted = set(types)
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            # librdkafka requires a group id even for assign(); nothing is ever committed.
            "group.id": f"proofstream-tail-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    shown = 0
    try:
        try:
            metadata = consumer.list_topics(name, timeout=10)
        except KafkaException as exc:
            console_error(f"cannot reach Kafka at {settings.kafka.bootstrap_servers}: {exc}")
            raise typer.Exit(2) from exc
        meta = metadata.topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            console_error(f"topic {name} does not exist")
            raise typer.Exit(2)
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(name, p, start) for p in sorted(meta.partitions)])
        idle_since = time.monotonic()
        while max_events is None or shown < max_events:
            msg = consumer.poll(0.2)
            if msg is None:
                if time.monotonic() - idle_since >= timeout:
                    break
                continue
            idle_since = time.monotonic()
            if msg.error() is not None:
                console_error(f"consumer: {msg.error()}")
                continue
            if _show(msg, codec, wanted, json_out):
                shown += 1
    finally:
        consumer.close()


def _show(msg: Message, codec: EventCodec, wanted: set[str], json_out: bool) -> bool:
    partition, offset = msg.partition(), msg.offset()
    header_type = _header(msg, "event-type")
    if wanted and header_type is not None and header_type not in wanted:
        return False  # skip without decoding
    try:
        event = codec.decode(msg.value() or b"")
    except DecodeError as exc:
        line = f"<undecodable {partition}/{offset}: {exc.reason}>"
        if json_out:
            typer.echo(line, err=True)
        else:
            console.print(line, style="yellow", highlight=False, markup=False)
        return False
    if wanted and event.event_type not in wanted:
        return False
    if json_out:
        record: dict[str, Any] = event_to_json(event)
        typer.echo(orjson.dumps(record).decode())
    else:
        console.print(summarize(event, partition or 0, offset or 0), highlight=False, markup=False)
    return True
