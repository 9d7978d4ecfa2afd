"""The decoder survives hostile bytes: every failure is a DecodeError carrying them."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import MAGIC, Actor, DecodeError, EventCodec, Producer, RunStarted, Subject

CODEC = EventCodec()
VALID = CODEC.encode(
    RunStarted(
        producer=Producer(service="s", version="1", workload_id="spiffe://x/y"),
        actor=Actor(kind="agent", id="a", role="r"),
        subject=Subject(project="p", run_id="r"),
        goal="g",
        attributes={"a": "b", "c": "d"},
    )
)
HEADER = VALID[:10]


def _zigzag_varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _assert_decode_error(raw: bytes) -> None:
    for decode in (CODEC.decode, CODEC.decode_record):
        try:
            decode(raw)
        except DecodeError as exc:
            assert exc.raw == raw
        # A mutation may still be a valid event: then decoding simply succeeds.


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes(raw: bytes) -> None:
    _assert_decode_error(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bodies_behind_a_valid_header(body: bytes) -> None:
    _assert_decode_error(HEADER + body)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(VALID) - 1))
def test_truncated(cut: int) -> None:
    raw = VALID[:cut]
    for decode in (CODEC.decode, CODEC.decode_record):
        try:
            decode(raw)
        except DecodeError as exc:
            assert exc.raw == raw
        else:
            raise AssertionError(f"truncated at {cut} decoded")


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=len(VALID) * 8 - 1))
def test_bit_flips(bit: int) -> None:
    raw = bytearray(VALID)
    raw[bit // 8] ^= 1 << (bit % 8)
    _assert_decode_error(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=2**20, max_value=2**62), st.binary(max_size=64))
def test_huge_declared_lengths(length: int, tail: bytes) -> None:
    # event_id is the first field: a string whose declared length is huge.
    raw = HEADER + _zigzag_varint(length) + tail
    for decode in (CODEC.decode, CODEC.decode_record):
        try:
            decode(raw)
        except DecodeError as exc:
            assert exc.raw == raw
        else:
            raise AssertionError("a huge declared length decoded")


def test_wrong_magic_and_unknown_fingerprint() -> None:
    for raw in (b"", b"\xc3", b"\x00\x01" + VALID[2:], MAGIC + b"\x00" * 8 + VALID[10:]):
        try:
            CODEC.decode(raw)
        except DecodeError as exc:
            assert exc.raw == raw
        else:
            raise AssertionError(raw)


def test_huge_map_block_count_ends_in_decode_error() -> None:
    # Decode the valid event up to the attributes map, then declare 2**40 entries.
    body = VALID[10:]
    marker = _zigzag_varint(2) + _zigzag_varint(1) + b"a"  # count 2, first key "a"
    at = body.index(marker)
    raw = HEADER + body[:at] + _zigzag_varint(2**40) + body[at + 1 :]
    try:
        CODEC.decode_record(raw)
    except DecodeError as exc:
        assert exc.raw == raw
    else:
        raise AssertionError("decoded")
    neg = HEADER + body[:at] + _zigzag_varint(-(2**40)) + struct.pack("<B", 0) + body[at + 1 :]
    try:
        CODEC.decode_record(neg)
    except DecodeError as exc:
        assert exc.raw == neg


def test_non_bytes_input() -> None:
    try:
        CODEC.decode("not bytes")  # type: ignore[arg-type]
    except DecodeError as exc:
        assert exc.raw == b""
    else:
        raise AssertionError("decoded a str")
