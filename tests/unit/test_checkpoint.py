"""The checkpoint's order and failure handling, and the decode step, on the fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from processors.checkpoint import Checkpoint, RetryPolicy
from processors.dlq import DeadLetter, dead_letter_headers, parse_dead_letter_headers
from processors.lane import after
from schemas.codec import EventCodec
from schemas.errors import BrokerUnavailableError, SinkUnavailableError
from sinks.base import LogPosition, LogRecord
from sinks.decode import Decoded, Needs, decode
from sinks.memory import MemoryProjection, MemoryStore, MemoryWrites
from tests import factories

CODEC = EventCodec()


class MemoryDeadLetters:
    def __init__(self, log: list[str] | None = None) -> None:
        self.letters: list[DeadLetter] = []
        self.log = log

    def publish(self, letters: Sequence[DeadLetter]) -> None:
        if self.log is not None:
            self.log.append("dlq")
        self.letters.extend(letters)


class MemoryCommitter:
    def __init__(self, log: list[str] | None = None) -> None:
        self.commits: list[dict[tuple[str, int], int]] = []
        self.log = log

    def commit(self, upto: Mapping[tuple[str, int], int]) -> None:
        if self.log is not None:
            self.log.append("commit")
        self.commits.append(dict(upto))


class RecordingStore(MemoryStore):
    def __init__(self, log: list[str]) -> None:
        super().__init__("recording")
        self.log = log

    def write(self, writes: MemoryWrites, upto: Mapping[tuple[str, int], int]) -> None:
        self.log.append("write")
        super().write(writes, upto)

    def flush(self) -> None:
        self.log.append("flush")
        super().flush()


def records(values: Sequence[bytes | None], start: int = 0) -> list[LogRecord]:
    return [
        LogRecord(LogPosition("events", 0, start + i), b"run-1", v, (("event-type", b"x"),))
        for i, v in enumerate(values)
    ]


def encoded(n: int) -> list[bytes]:
    return [CODEC.encode(factories.tool_invoked(n=i)) for i in range(n)]


def decoded_of(values: Sequence[bytes | None], start: int = 0) -> Decoded:
    return decode(CODEC, records(values, start), Needs(decode=None))


def checkpoint(
    store: MemoryStore,
    dlq: MemoryDeadLetters,
    committer: MemoryCommitter,
    projection: MemoryProjection | None = None,
    **kw: object,
) -> Checkpoint:
    return Checkpoint(
        projection or MemoryProjection(),
        store,
        dlq,
        committer,
        retry=RetryPolicy(0.001, 0.01),
        **kw,  # type: ignore[arg-type]
    )


def test_steps_run_in_order_and_commit_comes_last() -> None:
    log: list[str] = []
    store = RecordingStore(log)
    committer = MemoryCommitter(log)
    result = checkpoint(store, MemoryDeadLetters(log), committer).run(decoded_of(encoded(5)))
    assert log == ["write", "flush", "commit"]
    assert result.applied == 5 and result.dead == 0
    assert len(store.rows) == 5
    assert store.watermark() == {("events", 0): 4}
    assert committer.commits == [{("events", 0): 4}]


def test_the_decode_step_rejects_poison_with_its_original_bytes() -> None:
    good = encoded(4)
    poison = [b"\xc3\x01garbage", b"not avro at all", None]
    batch = decoded_of([good[0], poison[0], good[1], poison[1], good[2], poison[2], good[3]])
    assert [r.record.value for r in batch.rejected] == poison
    assert [r.record.position.offset for r in batch.rejected] == [1, 3, 5]
    assert {r.error for r in batch.rejected} == {"DecodeError"}
    assert len(batch.events) == 4
    assert batch.upto == {("events", 0): 6}  # the watermark covers the rejects too
    # the plane applies the rest; its watermark still moves past the rejects
    store = MemoryStore()
    committer = MemoryCommitter()
    result = checkpoint(store, MemoryDeadLetters(), committer).run(batch)
    assert result.applied == 4 and len(store.rows) == 4
    assert committer.commits == [{("events", 0): 6}]


def test_dead_letter_headers_keep_the_originals() -> None:
    record = records([b"junk"])[0]
    headers = dead_letter_headers(DeadLetter(record, "*", "DecodeError", "not avro"))
    parsed = parse_dead_letter_headers(headers)
    assert parsed["dlq.error"] == "DecodeError"
    assert parsed["dlq.source.offset"] == "0"
    assert parsed["dlq.projection"] == "*"
    assert ("event-type", b"x") in headers  # originals kept


def test_unavailable_store_is_retried_and_offsets_wait() -> None:
    committer = MemoryCommitter()
    attempts = 0

    class FlakyStore(MemoryStore):
        def _apply(self, writes: MemoryWrites) -> None:
            nonlocal attempts
            attempts += 1
            if attempts < 4:
                assert committer.commits == []  # nothing committed while the store is down
                raise SinkUnavailableError("flaky", "down", retry_after=0.001)
            super()._apply(writes)

    flaky = FlakyStore()
    result = checkpoint(flaky, MemoryDeadLetters(), committer).run(decoded_of(encoded(3)))
    assert attempts == 4 and result.attempts == 4
    assert committer.commits == [{("events", 0): 2}]
    assert len(flaky.rows) == 3


def test_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("tenacity.nap.time.sleep", waits.append)
    store = MemoryStore()
    calls = 0

    def fail_once(writes: MemoryWrites) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise SinkUnavailableError("slow", "busy", retry_after=0.75)

    monkeypatch.setattr(store, "_apply", fail_once)
    checkpoint(store, MemoryDeadLetters(), MemoryCommitter()).run(decoded_of(encoded(1)))
    assert waits == [0.75]  # the store asked for 0.75 s; the policy's own backoff is 0.001 s


def test_stopping_worker_leaves_batch_uncommitted() -> None:
    store = MemoryStore()
    store.available = False
    committer = MemoryCommitter()
    cp = checkpoint(store, MemoryDeadLetters(), committer, stopping=lambda: True)
    with pytest.raises(SinkUnavailableError):
        cp.run(decoded_of(encoded(2)))
    assert committer.commits == []
    store.available = True
    assert store.watermark() == {}


def test_permanent_failure_isolates_the_rejected_event() -> None:
    values = encoded(9)
    batch = decoded_of(values)
    bad = batch.events[2].event_id
    store = MemoryStore()
    store.rejects = frozenset({bad})
    dlq = MemoryDeadLetters()
    result = checkpoint(store, dlq, MemoryCommitter()).run(batch)
    assert result.applied == 8 and result.dead == 1
    assert [d.record.value for d in dlq.letters] == [values[2]]
    assert dlq.letters[0].error == "PermanentError"
    assert dlq.letters[0].projection == "memory"
    assert bad not in store.rows and len(store.rows) == 8
    assert store.watermark() == {("events", 0): 8}


def test_a_projection_bug_is_isolated_like_a_rejection() -> None:
    batch = decoded_of(encoded(4))
    poisoned = batch.events[1].event_id
    dlq = MemoryDeadLetters()
    store = MemoryStore()
    projection = MemoryProjection(poison=frozenset({poisoned}))
    result = checkpoint(store, dlq, MemoryCommitter(), projection).run(batch)
    assert result.dead == 1 and dlq.letters[0].error == "ValueError"
    assert set(store.rows) == {e.event_id for e in batch.events} - {poisoned}


def test_dlq_failure_means_no_commit() -> None:
    class DownDeadLetters(MemoryDeadLetters):
        def publish(self, letters: Sequence[DeadLetter]) -> None:
            raise BrokerUnavailableError("dlq down")

    batch = decoded_of(encoded(2))
    store = MemoryStore()
    store.rejects = frozenset({batch.events[0].event_id})
    committer = MemoryCommitter()
    cp = checkpoint(store, DownDeadLetters(), committer, stopping=lambda: True)
    with pytest.raises(BrokerUnavailableError):
        cp.run(batch)
    assert committer.commits == []


def test_a_plane_resumes_after_its_store_watermark_never_past_it() -> None:
    batch = decoded_of(encoded(6))
    resumed = after(batch, {("events", 0): 4})
    assert [e.position.offset for e in resumed.events] == [4, 5]
    assert resumed.upto == {("events", 0): 5}
    assert after(batch, {}).upto == batch.upto  # a fresh store reads everything
    assert after(batch, {("events", 0): 9}).records == []  # already applied
