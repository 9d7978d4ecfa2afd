"""One size limit per event, the same for the producer, the codec, the consumer and
the README: ``schemas.rules.MAX_EVENT_BYTES``, counted on the single-object bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from producers import ProducerSettings, encode_event
from schemas import DecodeError, EventCodec, InvalidEventError, RunStarted, Trace
from schemas.rules import (
    MAX_ATTRIBUTE_KEY_BYTES,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_EVENT_BYTES,
    MAX_TEXT_BYTES,
)
from tests import factories

README = Path(__file__).resolve().parents[2] / "README.md"
LOOSE = EventCodec(max_event_bytes=4 * MAX_EVENT_BYTES)  # an old producer's cap, for the test


def _event_of_size(size: int) -> RunStarted:
    """A RunStarted whose every field obeys its own limit and whose encoding is
    exactly ``size`` bytes (tuned through ``trace.tracestate``)."""
    attributes = {
        f"{i:03d}".ljust(MAX_ATTRIBUTE_KEY_BYTES, "k"): "v" * MAX_ATTRIBUTE_VALUE_BYTES
        for i in range(MAX_ATTRIBUTES)
    }
    full = "x" * MAX_TEXT_BYTES
    base = factories.run_started(goal=full).model_copy(
        update={
            "producer": factories.producer().model_copy(update={"version": full}),
            "subject": factories.subject().model_copy(update={"project": full, "repository": full}),
        }
    )

    def build(tracestate: int) -> RunStarted:
        trace = Trace(traceparent="t" * MAX_TEXT_BYTES, tracestate="s" * tracestate)
        return base.model_copy(update={"attributes": attributes, "trace": trace})

    # tracestate lengths between 64 and 8191 all take a 2-byte length prefix
    start = 2048
    length = start + size - len(LOOSE.encode(build(start)))
    event = RunStarted(**{name: getattr(build(length), name) for name in RunStarted.model_fields})
    assert len(LOOSE.encode(event)) == size
    return event


def test_the_limit_is_the_one_the_readme_promises() -> None:
    assert MAX_EVENT_BYTES == 64 * 1024
    assert f"{MAX_EVENT_BYTES // 1024} KiB per event" in README.read_text(encoding="utf-8")


def test_the_producer_defaults_to_the_limit_and_may_only_be_stricter() -> None:
    assert ProducerSettings().max_event_bytes == MAX_EVENT_BYTES
    assert ProducerSettings(max_event_bytes=16 * 1024).max_event_bytes == 16 * 1024
    with pytest.raises(ValidationError, match="less than or equal to 65536"):
        ProducerSettings(max_event_bytes=MAX_EVENT_BYTES + 1)


@pytest.mark.parametrize("size", [MAX_EVENT_BYTES - 1, MAX_EVENT_BYTES, MAX_EVENT_BYTES + 1])
def test_producer_and_consumer_draw_the_line_at_the_same_byte(size: int) -> None:
    event = _event_of_size(size)  # valid field by field: only its total size may be wrong
    raw = LOOSE.encode(event)
    producer_cap = ProducerSettings().max_event_bytes
    consumer = EventCodec()
    if size <= MAX_EVENT_BYTES:
        assert encode_event(event, EventCodec(max_event_bytes=producer_cap), producer_cap).value
        assert consumer.decode(raw) == event
        return
    with pytest.raises(InvalidEventError) as refused:
        encode_event(event, EventCodec(max_event_bytes=producer_cap), producer_cap)
    assert refused.value.field == "<event>"
    with pytest.raises(DecodeError, match=f"input cap of {MAX_EVENT_BYTES} B") as rejected:
        consumer.header(raw)  # the hot path's first check, before any decoding
    assert rejected.value.raw == raw
