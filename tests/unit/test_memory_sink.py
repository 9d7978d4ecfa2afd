"""The in-memory fake passes the same contract as the real sinks."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.errors import SinkUnavailableError
from sinks.base import Sink
from sinks.memory import MemorySink
from tests.contract.sink_contract import SinkContract, make_batch


class TestMemorySinkContract(SinkContract):
    persistent = False

    def make_sink(self, tmp_path: Path) -> Sink:
        return MemorySink()

    def stored_ids(self, sink: Sink) -> set[str]:
        assert isinstance(sink, MemorySink)
        return set(sink.rows)


def test_unavailable_sink_raises_retryable_error_and_keeps_watermark() -> None:
    sink = MemorySink()
    sink.write(make_batch(3))
    sink.flush()
    sink.available = False
    with pytest.raises(SinkUnavailableError) as info:
        sink.write(make_batch(3, start=3))
    assert info.value.retry_after > 0
    assert sink.watermark() == {("events", 0): 2}
