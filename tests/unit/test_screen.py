"""The consumer's screen is a superset of the rulebook's seed rules.

``needs_check(event_type, body) is False`` must guarantee that full validation
(``EventCodec.decode``) accepts the event. Proven here the way a hostile client
would break it: valid events are generated from the Avro schemas, a violation is
written into one string field of the *raw record* (bypassing the models), the
record is encoded with ``encode_record``, and then the screen must flag the body
and ``decode`` must refuse it, naming the field and the rule.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import string
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofstream.workload import simulate
from schemas import DecodeError, EventCodec, InvalidEventError, to_record
from schemas.rules import (
    ALWAYS_CHECKED,
    IDENTITY_FIELDS,
    SCREEN_MAX_BODY_BYTES,
    TOKEN_PREFIXES,
    needs_check,
)
from tests.event_strategies import CATALOG, build_event, event_data

CODEC = EventCodec(CATALOG)
_HEADER = 10

# String fields whose format is checked before any seed rule (a digest cannot hold
# a token): the rules under test are not the ones that refuse a value there.
FORMAT_CHECKED = frozenset(
    {"event_type", "input_digest", "output_digest", "body_digest", "digest", "sha256"}
    | {"evidence_sha256", "evidence"}
)

Path = tuple[str | int, ...]
KEY = "<key>"  # a path ending in KEY designates the key of a map entry, not its value


def _is_string(avro: Any, named: Mapping[str, Any]) -> bool:
    avro = named.get(avro, avro) if isinstance(avro, str) else avro
    if isinstance(avro, list):
        return any(_is_string(branch, named) for branch in avro if branch != "null")
    if isinstance(avro, dict):
        return avro.get("type") == "string" and avro.get("logicalType") != "uuid"
    return bool(avro == "string")


def _record_schema(avro: Any, named: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for branch in avro if isinstance(avro, list) else [avro]:
        schema = named.get(branch, branch) if isinstance(branch, str) else branch
        if isinstance(schema, dict) and schema.get("type") == "record":
            return schema
    return None


def _named(avro: Any, into: dict[str, Any]) -> dict[str, Any]:
    if isinstance(avro, list):
        for branch in avro:
            _named(branch, into)
    elif isinstance(avro, Mapping):
        if avro.get("type") in ("record", "enum"):
            into[avro["name"]] = avro
        for value in avro.values():
            _named(value, into)
    return into


def string_slots(schema: Mapping[str, Any], record: Mapping[str, Any]) -> Iterator[Path]:
    """Every place of ``record`` a string may be written, from the Avro schema (not
    the models: a model that forgot a rule must not hide the field from the test).
    Includes map keys and values and list items, and a new map entry / list item."""
    named = _named(schema, {})

    def walk(avro: Mapping[str, Any], value: Mapping[str, Any], path: Path) -> Iterator[Path]:
        for field in avro["fields"]:
            name, kind = field["name"], field["type"]
            item: Any = value.get(name)
            if name in FORMAT_CHECKED:
                continue
            if _is_string(kind, named):
                yield (*path, name)
            elif isinstance(kind, dict) and kind.get("type") == "map":
                for key in item:
                    yield (*path, name, key)
                    yield (*path, name, key, KEY)
                yield (*path, name, "new-entry")
            elif isinstance(kind, dict) and kind.get("type") == "array":
                items = _record_schema(kind["items"], named)
                for i, element in enumerate(item):
                    yield from walk(items, element, (*path, name, i)) if items else ()
            elif (nested := _record_schema(kind, named)) is not None and item is not None:
                yield from walk(nested, item, (*path, name))

    yield from walk(schema, record, ())


def written(record: Mapping[str, Any], path: Path, value: str) -> dict[str, Any]:
    """A deep copy of ``record`` with ``value`` written at ``path``."""
    out = copy.deepcopy(dict(record))
    target: Any = out
    if path[-1] == KEY:  # rename the key, keep its value and the map's order
        for part in path[:-2]:
            target = target[part]
        entries = [(value if k == path[-2] else k, v) for k, v in target.items()]
        target.clear()
        target.update(entries)
        return out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


def dotted(path: Path) -> str:
    """The field path the rulebook reports for ``path`` (a map key names the map)."""
    if path[-1] == KEY:
        path = path[:-2]
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def identity_path(path: Path) -> str:
    return dotted(tuple("[]" if isinstance(p, int) else p for p in path)).replace(".[]", "[]")


# --- violations ---------------------------------------------------------------------

_ALNUM = string.ascii_letters + string.digits
_B64URL = _ALNUM + "-_"
_UPPER = string.ascii_uppercase + string.digits

_GITHUB = st.builds(
    lambda prefix, body: prefix + body,
    st.sampled_from(TOKEN_PREFIXES),
    st.text(_ALNUM, min_size=1, max_size=40),
)
_AWS = st.builds(
    lambda prefix, body: prefix + body,
    st.sampled_from(["AKIA", "ASIA"]),
    st.text(_UPPER, min_size=16, max_size=16),
)
_PEM = st.builds(
    lambda kind, block: f"-----BEGIN {kind}PRIVATE KEY{block}-----\nMIIEvQIBADANBg",
    st.sampled_from(["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", "PGP "]),
    st.sampled_from(["", " BLOCK"]),
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


_JWT = st.builds(
    lambda header, payload, signature: (
        f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}"
        f".{_b64url(json.dumps(payload).encode())}.{signature}"
    ),
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["HS256", "RS256", "ES256", "none"])},
        optional={"typ": st.just("JWT"), "kid": st.text(_ALNUM, max_size=8)},
    ),
    st.dictionaries(st.text(_ALNUM, min_size=1, max_size=4), st.integers(), max_size=3),
    st.text(_B64URL, max_size=43),
)
CREDENTIALS = {
    "a GitHub token": _GITHUB,
    "an AWS access key id": _AWS,
    "a PEM private key": _PEM,
    "a bearer JWT": _JWT,
}
_AROUND = st.text(string.ascii_letters + " ,;=", max_size=12)


def _ip_forms(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> list[str]:
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    forms = [
        str(ip),
        f"{host}:{port}",
        f"{ip}/{ip.max_prefixlen}",
        f"tcp://{host}:{port}",
        f"spiffe://{host}/ns/agents",
        f"spiffe://fractalops.io/ns/agents/{ip}",
        f"https://agent@{host}:{port}/x?y=1",
        f"agent@{ip}",
        f" {ip} ",
    ]
    if ip.version == 6:
        forms.append(ip.exploded)
    else:
        forms += [f"::ffff:{ip}", f"urn:ip:{ip}"]
    return forms


RAW_IPS = st.builds(_ip_forms, st.ip_addresses(), st.integers(1, 65535)).flatmap(st.sampled_from)


def _event_and_slot(
    data: st.DataObject, only: Any = None
) -> tuple[str, dict[str, Any], Path] | None:
    event_type = data.draw(st.sampled_from(sorted(IDENTITY_FIELDS)), label="event_type")
    record = to_record(build_event(event_type, data.draw(event_data(event_type))))
    schema = CATALOG.current(event_type).schema
    slots = [p for p in string_slots(schema, record) if only is None or only(event_type, p)]
    if not slots:
        return None
    return event_type, record, data.draw(st.sampled_from(slots), label="slot")


def _refused(event_type: str, record: Mapping[str, Any], path: Path, rule: str) -> DecodeError:
    """Assert the screen flags ``record`` and ``decode`` refuses it naming ``path``
    and ``rule``; return the error."""
    raw = CODEC.encode_record(record)  # the raw path: no model, no rule ran
    assert needs_check(event_type, raw[_HEADER:]), "the screen let a violation through"
    with pytest.raises(DecodeError) as info:
        CODEC.decode(raw)
    cause = info.value.__cause__
    assert isinstance(cause, InvalidEventError)
    assert (cause.field, rule in cause.reason) == (dotted(path), True), cause
    assert f"{dotted(path)}: " in str(info.value) and rule in str(info.value)
    assert info.value.raw == raw
    return info.value


def _rich_value(avro: Any, named: Mapping[str, Any], name: str) -> Any:
    avro = named.get(avro, avro) if isinstance(avro, str) else avro
    if isinstance(avro, list):  # a union: its non-null branch
        return _rich_value(next(b for b in avro if b != "null"), named, name)
    kind = avro["type"] if isinstance(avro, dict) else avro
    if kind == "string":
        if isinstance(avro, dict) and avro.get("logicalType") == "uuid":
            return "6f1c2a4e-9b8d-4c3e-8f7a-1b2c3d4e5f60"
        if name in FORMAT_CHECKED:
            return "ab" * 32
        return "fractalops-agents[bot]" if name == "delivery_identity" else f"{name}-1"
    if kind in ("int", "long"):
        return 1_700_000_000_000_000 if "_at" in name else 1
    if kind == "boolean":
        return True
    if kind == "enum":
        return avro["symbols"][0]
    if kind == "map":
        return {"note": "v", "team": "w"}
    if kind == "array":
        return [_rich_value(avro["items"], named, name) for _ in range(3)]
    return {f["name"]: _rich_value(f["type"], named, f["name"]) for f in avro["fields"]}


def rich_record(event_type: str) -> dict[str, Any]:
    """A valid record of ``event_type`` with every optional field, map and list filled."""
    schema = CATALOG.current(event_type).schema
    record = _rich_value(dict(schema), _named(schema, {}), "")
    record["event_type"] = event_type
    return to_record(CODEC.decode(CODEC.encode_record(record)))  # valid, or this raises


FIXED_CREDENTIALS = {
    "a GitHub token": "ghp_" + "a1B2" * 9,
    "an AWS access key id": "AKIAIOSFODNN7EXAMPLE",
    "a PEM private key": "-----BEGIN EC PRIVATE KEY-----",
    "a bearer JWT": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2ln",
}
FIXED_IPS = ["10.0.0.1", "[2001:db8::1]:8443", "spiffe://10.0.0.1/x", "td/ns/::ffff:10.0.0.1"]


@pytest.mark.parametrize("event_type", sorted(IDENTITY_FIELDS))
def test_every_string_field_of_every_type_is_screened_and_refused(event_type: str) -> None:
    """Exhaustive over fields (the property tests below vary the values)."""
    record = rich_record(event_type)
    slots = list(string_slots(CATALOG.current(event_type).schema, record))
    identities = {identity_path(p) for p in slots} & IDENTITY_FIELDS[event_type]
    assert identities == IDENTITY_FIELDS[event_type]  # every identity field was reached
    for path in slots:
        for shape, secret in FIXED_CREDENTIALS.items():
            _refused(event_type, written(record, path, f"x {secret}"), path, f"looks like {shape}")
        if identity_path(path) in IDENTITY_FIELDS[event_type]:
            for ip in FIXED_IPS:
                _refused(event_type, written(record, path, ip), path, "raw IP address is not")


_SETTINGS = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@_SETTINGS
@given(data=st.data(), shape=st.sampled_from(sorted(CREDENTIALS)))
def test_a_credential_in_any_string_field_is_screened_and_refused(
    data: st.DataObject, shape: str
) -> None:
    found = _event_and_slot(data)
    if found is None:
        return
    event_type, record, path = found
    secret = data.draw(CREDENTIALS[shape], label="secret")
    before, after = data.draw(_AROUND), data.draw(_AROUND)
    text = f"{before} {secret} {after}"
    error = _refused(event_type, written(record, path, text), path, f"looks like {shape}")
    # the DLQ keeps the raw bytes, but the reason never repeats the secret
    assert secret not in error.reason


@_SETTINGS
@given(data=st.data(), ip=RAW_IPS)
def test_a_raw_ip_in_any_identity_field_is_screened_and_refused(
    data: st.DataObject, ip: str
) -> None:
    found = _event_and_slot(data, lambda et, p: identity_path(p) in IDENTITY_FIELDS[et])
    if found is None:
        return
    event_type, record, path = found
    _refused(event_type, written(record, path, ip), path, "raw IP address is not an identity")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data(), ip=RAW_IPS)
def test_a_raw_ip_outside_identity_fields_is_accepted(data: st.DataObject, ip: str) -> None:
    """The rule is about identities: an IP in a goal or an attribute is no violation
    (the screen may still look at it, which costs time but no correctness)."""
    found = _event_and_slot(data, lambda et, p: identity_path(p) not in IDENTITY_FIELDS[et])
    if found is None:
        return
    _, record, path = found
    raw = CODEC.encode_record(written(record, path, ip))
    assert to_record(CODEC.decode(raw)) == CODEC.decode_record(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data(), size=st.integers(SCREEN_MAX_BODY_BYTES, 8 * 1024))
def test_a_body_that_may_hold_an_oversized_string_is_always_checked(
    data: st.DataObject, size: int
) -> None:
    found = _event_and_slot(data)
    if found is None:
        return
    event_type, record, path = found
    raw = CODEC.encode_record(written(record, path, "x" * size))
    assert needs_check(event_type, raw[_HEADER:])


def test_records_the_screen_cannot_read_are_always_checked() -> None:
    # an agent's PR delivered with a human login: a rule over two fields
    pr = CODEC.decode_record(CODEC.encode(_demo("pr.opened")))
    pr["delivery_identity"] = "alice"
    raw = CODEC.encode_record(pr)
    assert needs_check("pr.opened", raw[_HEADER:])
    with pytest.raises(DecodeError, match="delivery_identity: an agent delivers through"):
        CODEC.decode(raw)
    # 65 lineage refs of three bytes each: too many items in a small body
    lineage = CODEC.decode_record(CODEC.encode(_demo("run.started")))
    lineage.pop("goal")
    lineage.pop("parent_run_id")
    lineage |= {"event_type": "lineage.declared", "outputs": []}
    lineage["inputs"] = [{"kind": "api", "name": "r"} for _ in range(65)]
    raw = CODEC.encode_record(lineage)
    assert len(raw) - _HEADER <= SCREEN_MAX_BODY_BYTES
    assert needs_check("lineage.declared", raw[_HEADER:])
    with pytest.raises(DecodeError, match="inputs: more than 64 items"):
        CODEC.decode(raw)


def test_what_the_screen_does_not_promise() -> None:
    """Attribute entry counts and key sizes, and type rules such as a negative
    duration, are not visible in bytes: the screen may clear such a record, and
    full validation (the producer, or any plane that decodes the model) refuses it."""
    record = CODEC.decode_record(CODEC.encode(_demo("run.finished")))
    broken = [
        {**record, "attributes": {f"k{i}": "" for i in range(33)}},
        {**record, "attributes": {"k" * 257: ""}},
        {**record, "duration_ms": -1},
    ]
    for bad in broken:
        raw = CODEC.encode_record(bad)
        assert not needs_check("run.finished", raw[_HEADER:])
        with pytest.raises(DecodeError):
            CODEC.decode(raw)


# --- the demo workload: all valid, and the screen clears most of it -----------------

DEMO = simulate(runs=60).events


def _demo(event_type: str) -> Any:
    return next(e for e in DEMO if e.event_type == event_type)


def test_demo_events_stay_valid_and_the_screen_clears_all_it_can() -> None:
    flagged = []
    for event in DEMO:
        raw = CODEC.encode(event)
        assert CODEC.decode(raw) == event  # the producer's rules and the consumer's agree
        if needs_check(event.event_type, raw[_HEADER:]):
            flagged.append(event.event_type)
    # no false positive outside the types the screen can never clear...
    assert set(flagged) <= ALWAYS_CHECKED
    assert len(flagged) == sum(e.event_type in ALWAYS_CHECKED for e in DEMO)
    # ...and those are a minority: the hot path decodes about one event in six
    cleared = 1 - len(flagged) / len(DEMO)
    assert cleared > 0.8, f"the screen clears only {cleared:.0%} of the demo workload"
