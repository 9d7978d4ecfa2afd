"""Seed rules run at construction and raise InvalidEventError naming the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from schemas import (
    Actor,
    ActorKind,
    InvalidEventError,
    IssueOpened,
    Producer,
    PullRequestOpened,
    RunStarted,
    Subject,
    ToolInvoked,
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
    "attributes",
    [
        {f"k{i}": "v" for i in range(33)},
        {"k" * 257: "v"},
        {"k": "v" * 1025},
    ],
)
def test_attributes_are_bounded(attributes: dict[str, str]) -> None:
    assert (
        _field_of(
            lambda: RunStarted(
                producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal="g", attributes=attributes
            )
        )
        == "attributes"
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
