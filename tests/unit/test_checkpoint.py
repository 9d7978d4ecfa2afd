"""The checkpoint's order and failure handling, on the in-memory fakes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from processors.checkpoint import Checkpointer, DeadLetter, RawRecord, RetryPolicy
from processors.dlq import dead_letter_headers, parse_dead_letter_headers
from schemas.codec import EventCodec
from schemas.errors import BrokerUnavailableError, PermanentError, SinkUnavailableError
from sinks.base import Batch, LogPosition
from sinks.memory import MemorySink
from tests import factories

CODEC = EventCodec()


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


def raw_records(values: Sequence[bytes | None], start: int = 0) -> list[RawRecord]:
    return [
        RawRecord(LogPosition("events", 0, start + i), b"run-1", v, (("event-type", b"x"),))
        for i, v in enumerate(values)
    ]


def encoded(n: int) -> list[bytes]:
    return [CODEC.encode(factories.tool_invoked(n=i)) for i in range(n)]


class Log:
    """Records the order of calls across sink, DLQ and commit."""

    def __init__(self) -> None:
        self.calls: list[str] = []


class RecordingSink(MemorySink):
    def __init__(self, log: Log) -> None:
        super().__init__("recording")
        self.log = log

    def write(self, batch: Batch) -> None:
        self.log.calls.append("write")
        super().write(batch)

    def flush(self) -> None:
        self.log.calls.append("flush")
        super().flush()


def checkpointer(sink: MemorySink, dlq: MemoryDeadLetters, **kw: object) -> Checkpointer:
    return Checkpointer(
        sink,
        CODEC,
        dlq,
        ThreadPoolExecutor(1),
        retry=RetryPolicy(0.001, 0.01),
        **kw,  # type: ignore[arg-type]
    )


def test_steps_run_in_order_and_commit_comes_last() -> None:
    log = Log()
    sink = RecordingSink(log)
    dlq = MemoryDeadLetters()

    async def commit() -> None:
        log.calls.append("commit")

    result = asyncio.run(checkpointer(sink, dlq).run(raw_records(encoded(5)), commit))
    assert log.calls == ["write", "flush", "commit"]
    assert result.applied == 5 and result.dead == 0
    assert len(sink.rows) == 5
    assert sink.watermark() == {("events", 0): 4}


def test_poison_goes_to_dlq_with_original_bytes_and_the_rest_flows() -> None:
    sink = MemorySink()
    dlq = MemoryDeadLetters()
    good = encoded(4)
    poison = [b"\xc3\x01garbage", b"not avro at all", None]
    records = raw_records([good[0], poison[0], good[1], poison[1], good[2], poison[2], good[3]])
    committed = []

    async def commit() -> None:
        committed.append(True)

    result = asyncio.run(checkpointer(sink, dlq).run(records, commit))
    assert committed == [True]
    assert result.applied == 4 and result.dead == 3
    assert len(sink.rows) == 4
    assert [d.record.value for d in dlq.letters] == poison
    assert [d.record.position.offset for d in dlq.letters] == [1, 3, 5]
    headers = parse_dead_letter_headers(dead_letter_headers(dlq.letters[0]))
    assert headers["dlq.error"] == "DecodeError"
    assert headers["dlq.source.offset"] == "1"
    assert headers["dlq.projection"] == "memory"
    assert ("event-type", b"x") in dead_letter_headers(dlq.letters[0])  # originals kept


def test_unavailable_sink_is_retried_and_offsets_wait() -> None:
    sink = MemorySink()
    sink.available = False
    dlq = MemoryDeadLetters()
    committed: list[int] = []
    attempts = 0

    class FlakySink(MemorySink):
        def write(self, batch: Batch) -> None:
            nonlocal attempts
            attempts += 1
            if attempts < 4:
                assert committed == []  # nothing committed while the sink is down
                raise SinkUnavailableError("flaky", "down", retry_after=0.001)
            super().write(batch)

    flaky = FlakySink()

    async def commit() -> None:
        committed.append(len(flaky.rows))

    result = asyncio.run(checkpointer(flaky, dlq).run(raw_records(encoded(3)), commit))
    assert attempts == 4 and result.attempts == 4
    assert committed == [3]


def test_stopping_worker_leaves_batch_uncommitted() -> None:
    sink = MemorySink()
    sink.available = False
    committed: list[bool] = []

    async def commit() -> None:
        committed.append(True)

    cp = checkpointer(sink, MemoryDeadLetters(), stopping=lambda: True)
    with pytest.raises(SinkUnavailableError):
        asyncio.run(cp.run(raw_records(encoded(2)), commit))
    assert committed == []
    assert sink.watermark() == {}


def test_permanent_failure_isolates_the_rejected_event() -> None:
    bad_offset = 2

    class PickySink(MemorySink):
        def write(self, batch: Batch) -> None:
            if any(e.position.offset == bad_offset for e in batch):
                raise PermanentError("the store rejects this value")
            super().write(batch)

    sink = PickySink()
    dlq = MemoryDeadLetters()
    values = encoded(5)

    async def commit() -> None:
        pass

    result = asyncio.run(checkpointer(sink, dlq).run(raw_records(values), commit))
    assert result.applied == 4 and result.dead == 1
    assert [d.record.value for d in dlq.letters] == [values[bad_offset]]
    assert dlq.letters[0].error == "PermanentError"
    assert sink.watermark() == {("events", 0): 4}


def test_dlq_failure_means_no_commit() -> None:
    class DownDeadLetters(MemoryDeadLetters):
        async def publish(self, letters: Sequence[DeadLetter]) -> None:
            raise BrokerUnavailableError("dlq down")

    committed: list[bool] = []

    async def commit() -> None:
        committed.append(True)

    with pytest.raises(BrokerUnavailableError):
        asyncio.run(
            checkpointer(MemorySink(), DownDeadLetters()).run(raw_records([b"junk"]), commit)
        )
    assert committed == []
