"""Seed rules run at construction and raise InvalidEventError naming the field.

The rules themselves (which shapes, which fields) are tested here with fixed
examples; ``test_screen.py`` checks with generated events that the consumer's
screen sends every violation to the same rules.
"""

from __future__ import annotations

import base64
import types
import typing
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel

from schemas import (
    EVENT_TYPES,
    Actor,
    ActorKind,
    EvidenceRecorded,
    InvalidEventError,
    IssueOpened,
    LineageDeclared,
    LineageRef,
    LineageRefKind,
    Producer,
    PullRequestOpened,
    RunStarted,
    Subject,
    ToolInvoked,
    rules,
)

PRODUCER = Producer(service="s", version="1", workload_id="spiffe://fractalops/ns/a/sa/b")
AGENT = Actor(kind=ActorKind.AGENT, id="agent-1", role="committer")
HUMAN = Actor(kind=ActorKind.HUMAN, id="alice", role="reviewer")
SUBJECT = Subject(project="p")


def _field_of(build: Any) -> str:
    with pytest.raises(InvalidEventError) as info:
        build()
    return info.value.field


@pytest.mark.parametrize(
    "ip", ["10.0.0.1", "10.0.0.1:8080", "::1", "[2001:db8::1]:443", "fe80::1%eth0", " 192.168.1.1 "]
)
def test_raw_ip_is_not_an_identity(ip: str) -> None:
    assert _field_of(lambda: Producer(service="s", version="1", workload_id=ip)) == (
        "producer.workload_id"
    )
    assert _field_of(lambda: Actor(kind="agent", id=ip, role="r")) == "actor.id"
    data = {"producer": {"service": "s", "version": "1", "workload_id": ip}}
    assert (
        _field_of(lambda: RunStarted(actor=AGENT, subject=SUBJECT, goal="g", **data))
        == "producer.workload_id"
    )


@pytest.mark.parametrize(
    "identity", ["spiffe://fractalops/ns/agents/sa/planner", "i-0abc123def", "pod/planner-7f9"]
)
def test_spiffe_and_runtime_ids_are_identities(identity: str) -> None:
    assert Producer(service="s", version="1", workload_id=identity).workload_id == identity


def _pr(actor: Actor, **over: Any) -> PullRequestOpened:
    fields: dict[str, Any] = {
        "producer": PRODUCER,
        "actor": actor,
        "subject": SUBJECT,
        "pr_ref": "o/r#1",
        "title": "t",
        "head_sha": "abc",
        "base_ref": "main",
        "github_app_installation_id": 7,
        "delivery_identity": "fractalops-agents[bot]",
    }
    fields.update(over)
    return PullRequestOpened(**fields)


@pytest.mark.parametrize("token", ["ghp_abcdef", "github_pat_11AAAA", "gho_x", "ghs_x"])
def test_tokens_are_never_a_delivery_identity(token: str) -> None:
    assert _field_of(lambda: _pr(AGENT, delivery_identity=token)) == "delivery_identity"
    assert _field_of(lambda: _pr(HUMAN, delivery_identity=token)) == "delivery_identity"


def test_agents_deliver_through_the_github_app() -> None:
    assert _field_of(lambda: _pr(AGENT, github_app_installation_id=None)) == (
        "github_app_installation_id"
    )
    # A human's login as an agent's delivery identity is rejected.
    assert _field_of(lambda: _pr(AGENT, delivery_identity="alice")) == "delivery_identity"
    issue = IssueOpened(
        producer=PRODUCER,
        actor=AGENT,
        subject=SUBJECT,
        issue_ref="o/r#2",
        title="t",
        github_app_installation_id=7,
        delivery_identity="fractalops-agents[bot]",
    )
    assert issue.github_app_installation_id == 7
    # A human opening a PR with their own account is fine.
    assert _pr(HUMAN, github_app_installation_id=None, delivery_identity="alice").actor == HUMAN


def test_string_size_cap_names_the_field() -> None:
    assert (
        _field_of(
            lambda: RunStarted(producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal="x" * 4097)
        )
        == "goal"
    )
    # Bytes, not characters: 1100 four-byte code points are over 4 KiB.
    assert (
        _field_of(
            lambda: RunStarted(
                producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal="\U0001f600" * 1100
            )
        )
        == "goal"
    )
    assert RunStarted(producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal="x" * 4096)


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({f"k{i}": "v" for i in range(33)}, "attributes"),
        ({"k" * 257: "v"}, "attributes"),  # the key's own error names the map, not the key
        ({"k": "v" * 1025}, "attributes.k"),
    ],
)
def test_attributes_are_bounded(attributes: dict[str, str], field: str) -> None:
    assert (
        _field_of(
            lambda: RunStarted(
                producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal="g", attributes=attributes
            )
        )
        == field
    )


def _tool(**over: Any) -> ToolInvoked:
    fields: dict[str, Any] = {
        "producer": PRODUCER,
        "actor": AGENT,
        "subject": SUBJECT,
        "mcp_server": "m",
        "tool": "t",
        "input_digest": "a" * 64,
        "duration_ms": 1,
        "outcome": "success",
    }
    fields.update(over)
    return ToolInvoked(**fields)


@pytest.mark.parametrize("digest", ["sha256:" + "a" * 64, "A" * 64, "a" * 63, "g" * 64])
def test_digests_are_64_lowercase_hex(digest: str) -> None:
    assert _field_of(lambda: _tool(input_digest=digest)) == "input_digest"


def test_naive_datetimes_are_rejected() -> None:
    assert _field_of(lambda: _tool(occurred_at=datetime(2025, 1, 1))) == "occurred_at"


def test_unknown_enum_values_are_rejected() -> None:
    assert _field_of(lambda: _tool(outcome="exploded")) == "outcome"
    assert _field_of(lambda: Actor(kind="robot", id="a", role="r")) == "actor.kind"


def test_unknown_fields_are_rejected_and_events_are_frozen() -> None:
    assert _field_of(lambda: _tool(colour="red")) == "colour"
    event = _tool()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        event.tool = "other"  # type: ignore[misc]


# --- raw IPs in identity-bearing fields ---------------------------------------------

RAW_IPS = [
    "10.0.0.1",
    "172.16.4.2",
    "10.0.0.1:8080",
    "10.0.0.1/32",
    "2001:db8::/32",
    "::1",
    "::ffff:10.0.0.1",
    "fe80::1%eth0",
    "[2001:db8::1]:8443",
    "tcp://[2001:db8::1]:8443",
    "tcp://10.0.0.1:9092",
    "spiffe://10.0.0.1/ns/agents",
    "spiffe://fractalops.io/ns/agents/10.0.0.7",
    "https://user@10.0.0.1:8443/x",
    "https://10.0.0.1?tenant=a",
    "agent@10.0.0.1",
    "urn:ip:10.0.0.1",
    " 192.168.1.1 ",
    "planner on 10.0.0.9",
]

NOT_IPS = [
    "spiffe://fractalops.io/ns/agents/sa/planner",
    "i-0abc123def",
    "pod/planner-7f9",
    "ip-10-0-0-1.ec2.internal",
    "planner-v1.2.3.4",
    "release/2.3.1",
    "1.2.3.4.5",
    "host.example.com:8443",
    "https://api.example.com/v1/orders",
    "urn:li:dataset:(urn:li:dataPlatform:clickhouse,db.orders,PROD)",
    "deadbeef:cafe",
    "fractalops/portal#12",
]


def _lineage(name: str) -> LineageDeclared:
    # refs as dicts: the event validates them, so errors carry their place in the list
    refs: list[Any] = [LineageRef(kind=LineageRefKind.DATASET, name=f"db.t{i}") for i in range(2)]
    refs.append({"kind": "api", "name": name})
    return LineageDeclared(producer=PRODUCER, actor=AGENT, subject=SUBJECT, inputs=refs)


def _evidence(**over: Any) -> EvidenceRecorded:
    fields: dict[str, Any] = {
        "producer": PRODUCER,
        "actor": AGENT,
        "subject": SUBJECT,
        "sha256": "a" * 64,
        "media_type": "image/png",
        "size_bytes": 1,
        "kind": "browser_proof",
        "proves": "o/r#1",
    }
    fields.update(over)
    return EvidenceRecorded(**fields)


IDENTITY_BUILDERS: dict[str, Any] = {
    "producer.workload_id": lambda v: Producer(service="s", version="1", workload_id=v),
    "actor.id": lambda v: Actor(kind="agent", id=v, role="r"),
    "actor.role": lambda v: Actor(kind="agent", id="a", role=v),
    "subject.run_id": lambda v: Subject(project="p", run_id=v),
    "mcp_server": lambda v: _tool(mcp_server=v),
    "uri": lambda v: _evidence(uri=v),
    "inputs[2].name": _lineage,
    "delivery_identity": lambda v: _pr(HUMAN, delivery_identity=v),
}


@pytest.mark.parametrize("ip", RAW_IPS)
@pytest.mark.parametrize("field", sorted(IDENTITY_BUILDERS))
def test_raw_ips_are_refused_in_every_form_and_identity_field(field: str, ip: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        IDENTITY_BUILDERS[field](ip)
    assert info.value.field == field
    assert "raw IP address is not an identity" in info.value.reason


@pytest.mark.parametrize("value", NOT_IPS)
def test_names_that_merely_contain_digits_dots_or_colons_are_identities(value: str) -> None:
    assert _evidence(uri=value, proves=value).uri == value
    assert Producer(service="s", version="1", workload_id=value).workload_id == value


def test_ips_are_refused_as_identities_only() -> None:
    started = RunStarted(
        producer=PRODUCER,
        actor=AGENT,
        subject=SUBJECT,
        goal="find why 10.0.0.1 and [2001:db8::1]:443 time out",
        attributes={"peer": "10.0.0.1:8080"},
    )
    assert started.attributes == {"peer": "10.0.0.1:8080"}
    assert Producer(service="s", version="10.0.0.1", workload_id="spiffe://td/x").version


@pytest.mark.parametrize("ip", ["10.0.0.1", "::1", "spiffe://10.0.0.1/x"])
def test_raw_ip_in_agrees_with_check_identity(ip: str) -> None:
    assert rules.raw_ip_in(ip)
    with pytest.raises(ValueError, match="raw IP"):
        rules.check_identity(ip)


# --- credentials in any string field -------------------------------------------------

_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
CREDENTIALS = [
    ("ghp_" + "a1B2" * 9, "a GitHub token"),
    ("gho_x", "a GitHub token"),
    ("ghu_16C7e42F292c6912E7710c838347Ae178B4a", "a GitHub token"),
    ("ghs_abc", "a GitHub token"),
    ("ghr_abc", "a GitHub token"),
    ("github_pat_11ABCDEFG0_abcdefghijklmnop", "a GitHub token"),
    ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
    ("ASIAY34FZKBOKMUTVV7A", "an AWS access key id"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow", "a PEM private key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "a PEM private key"),
    ("-----BEGIN PRIVATE KEY-----", "a PEM private key"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----", "a PEM private key"),
    (_JWT, "a bearer JWT"),
    ("eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.", "a bearer JWT"),  # alg none: empty signature
]


def _in_text(secret: str) -> list[str]:
    return [secret, f"fix login: token={secret}", f"Authorization: Bearer {secret} (rotated)"]


@pytest.mark.parametrize(("secret", "shape"), CREDENTIALS)
def test_credentials_are_refused_anywhere_in_free_text(secret: str, shape: str) -> None:
    for text in _in_text(secret):
        with pytest.raises(InvalidEventError) as info:
            RunStarted(producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal=text)
        assert (info.value.field, info.value.reason.split(":")[0]) == (
            "goal",
            f"looks like {shape}",
        )
        # the value is never echoed: not in our error, not in pydantic's chained one
        assert secret not in str(info.value)
        assert secret not in str(info.value.__cause__)


@pytest.mark.parametrize(("secret", "shape"), CREDENTIALS)
def test_credentials_are_refused_in_every_kind_of_string_field(secret: str, shape: str) -> None:
    builds: dict[str, Any] = {
        "attributes.note": lambda: RunStarted(
            producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal="g", attributes={"note": secret}
        ),
        "attributes": lambda: RunStarted(
            producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal="g", attributes={secret: "v"}
        ),
        "inputs[2].name": lambda: _lineage(secret),
        "title": lambda: _pr(HUMAN, title=f"chore: {secret}"),
        "producer.version": lambda: Producer(service="s", version=secret, workload_id="w"),
        "trace.tracestate": lambda: RunStarted(
            producer=PRODUCER,
            actor=AGENT,
            subject=SUBJECT,
            goal="g",
            trace={"traceparent": "00-a-b-01", "tracestate": f"vendor={secret}"},
        ),
        "media_type": lambda: _evidence(media_type=secret),
    }
    for field, build in builds.items():
        with pytest.raises(InvalidEventError) as info:
            build()
        assert info.value.field == field
        assert f"looks like {shape}" in info.value.reason
        assert secret not in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "the ghp_ prefix marks a personal token",
        "highs_and_lows",  # 'ghs_' inside a word
        "sign_up",
        "AKIA short",
        "ASIA-PACIFIC region",
        "-----BEGIN PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----",
        "eyJ not a token",
        "eyJub3Q.a.b",  # decodes to '{"not': no JSON object
        "e30.e30.x",  # '{}' is no JOSE header
        "version 2.3.1 of v1.2.3.4",
    ],
)
def test_near_misses_are_plain_text(text: str) -> None:
    assert rules.credential_in(text) is None
    assert RunStarted(producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal=text).goal == text


def test_jwt_detection_survives_decoys_and_hostile_headers() -> None:
    assert rules.credential_in(f"eyJunk.{_JWT}") == "a bearer JWT"  # a decoy run first
    assert rules.credential_in(f"eyJunk.eyJunk.{_JWT}") == "a bearer JWT"
    deep = base64.urlsafe_b64encode(b'{"a":' + b"[" * 100_000).decode().rstrip("=")
    assert rules.credential_in(f"{deep}.e30.sig") is None  # no RecursionError escapes


# --- the rulebook matches the models --------------------------------------------------


def _checks(annotation: Any) -> list[Any]:
    """The AfterValidator functions on ``annotation`` and on each branch of a union."""
    funcs = [getattr(m, "func", None) for m in getattr(annotation, "__metadata__", ())]
    for arg in typing.get_args(annotation) if typing.get_origin(annotation) is not list else ():
        funcs += _checks(arg)
    return funcs


def _branches(annotation: Any) -> tuple[Any, ...]:
    """``annotation`` itself, or the branches of a union (``X | None``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _identity_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        funcs = [getattr(m, "func", None) for m in info.metadata] + _checks(info.annotation)
        if rules.check_identity in funcs:
            paths.add(path)
        for arg in _branches(info.annotation):
            inner = typing.get_args(arg)[0] if typing.get_origin(arg) is list else arg
            suffix = "[]" if inner is not arg else ""
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                paths |= _identity_paths(inner, f"{path}{suffix}.")
    return paths


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_identity_fields_are_the_documented_ones(event_type: str) -> None:
    assert _identity_paths(EVENT_TYPES[event_type]) == rules.IDENTITY_FIELDS[event_type]


def test_always_checked_types_are_those_the_screen_cannot_see() -> None:
    """List fields (item counts) and model validators (rules over several fields)."""

    def unseen(cls: type[BaseModel]) -> bool:
        lists = any(
            typing.get_origin(arg) is list
            for info in cls.model_fields.values()
            for arg in _branches(info.annotation)
        )
        return lists or bool(cls.__pydantic_decorators__.model_validators)

    assert {et for et, cls in EVENT_TYPES.items() if unseen(cls)} == rules.ALWAYS_CHECKED
