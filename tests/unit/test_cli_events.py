"""Pure parts of ``proofstream emit``/``tail``: line validation and the summary line."""

from __future__ import annotations

import orjson

from proofstream.cli.events import parse_lines, summarize
from schemas.codec import EventCodec
from schemas.envelope import Actor, ActorKind, Producer, Subject
from schemas.errors import InvalidEventError
from schemas.events import RunStarted
from schemas.jsonio import event_to_json


def started(goal: str = "fix issue #12") -> RunStarted:
    return RunStarted(
        producer=Producer(
            service="planner", version="1.0", workload_id="spiffe://fractalops/ns/a/sa/planner"
        ),
        actor=Actor(kind=ActorKind.AGENT, id="agent-7", role="planner"),
        subject=Subject(project="fractalops", run_id="run-42"),
        goal=goal,
    )


def test_parse_lines_numbers_lines_and_names_fields() -> None:
    event = started()
    lines = [
        orjson.dumps(event_to_json(event)).decode(),
        "",
        "[1, 2",
        orjson.dumps({**event_to_json(event), "goal": 7}).decode(),
        orjson.dumps(event_to_json(started(goal="z" * 3000))).decode(),
    ]
    got = list(parse_lines(iter(lines), EventCodec(), max_event_bytes=1024))
    assert [n for n, _ in got] == [1, 3, 4, 5]
    assert got[0][1] == event
    errors = [o for _, o in got[1:]]
    assert all(isinstance(e, InvalidEventError) for e in errors)
    assert [e.field for e in errors if isinstance(e, InvalidEventError)] == [
        "<json>",
        "goal",
        "<event>",
    ]


def test_summary_shows_type_run_actor_and_payload() -> None:
    line = summarize(started(), 3, 17)
    assert "run.started" in line
    assert "run=run-42" in line
    assert "actor=agent:agent-7(planner)" in line
    assert "goal=fix issue #12" in line
    assert line.endswith("[3@17]")
