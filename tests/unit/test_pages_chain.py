"""Query rows → the pages' model (pure), the routes, and the SQL's guard on input."""

from __future__ import annotations

import pytest

from proofstream.pages import sql
from proofstream.pages.chain import evidence_refs
from proofstream.pages.model import MarkState
from proofstream.pages.overview import planes_of_status
from proofstream.pages.serve import pr_path, route, run_path
from proofstream.pages.timeline import build_run_timeline
from schemas.errors import ConfigError
from tests.pages_support import ISSUE, PR, chain, failed, pr_rows


def test_the_chain_has_a_node_per_event_in_its_lane_and_the_right_lines() -> None:
    c = chain()
    lanes = [n.lane for n in c.nodes]
    assert lanes[:5] == ["run", "handoff", "workspace", "tool", "issue"]
    assert lanes.count("pull request") == 3 and lanes.count("evidence") == 1
    assert (c.issue_ref, c.title, c.runs) == (ISSUE, "Fixes #100: change 0", ("run-0000",))
    assert c.merged_at_ms == 1_793_610_010_500  # GitHub's merged_at, not the event time
    kinds = {(e.source, e.target): e.kind for e in c.edges}
    assert kinds[("e4", "e5")] == "closes"  # the issue the PR closes
    assert kinds[("e7", "e10")] == "proves"  # the evidence to the merge
    assert kinds[("e0", "e1")] == "next"
    assert c.gap is None and not c.truncated


def test_labels_and_colours_say_what_happened() -> None:
    nodes = {n.id: n for n in chain().nodes}
    assert nodes["e1"].label == "planner → backend"
    assert nodes["e3"].label == "create_branch 120 ms ✗ error" and nodes["e3"].status == "failed"
    assert nodes["e7"].label == "browser_proof ✓ verified" and nodes["e7"].status == "verified"
    red = {n.id: n for n in chain(mark=failed()).nodes}["e7"]
    assert red.label == "browser_proof ✗ failed" and red.status == "unverified"
    kinds = {(e.source, e.target): e.kind for e in chain(mark=failed()).edges}
    assert kinds[("e7", "e10")] == "claims"  # not proven by the log: only a claim


def test_a_merge_without_proof_gets_a_gap_node_after_the_merge() -> None:
    c = chain(proof=False)
    assert c.gap is not None and c.gap.pr_ref == PR
    gap = c.nodes[-1]
    assert (gap.status, gap.lane, gap.label) == ("gap", "evidence", "proof gap: no browser proof")
    assert any(e.kind == "gap" and e.source == "e10" and e.target == gap.id for e in c.edges)
    assert c.evidence == ()


def test_too_many_events_are_cut_and_said_so() -> None:
    from proofstream.pages.chain import build_pr_chain

    c = build_pr_chain(
        PR, pr_rows(), marks={}, gap=None, checkpoint=None, log_error="no log", limit=5
    )
    assert c.truncated and len(c.nodes) == 5
    assert evidence_refs(pr_rows())[0].sha256 == "b" * 64


def test_a_run_timeline_pairs_leases_and_keeps_tool_calls() -> None:
    t = build_run_timeline(
        "run-0000", pr_rows(), marks={}, checkpoint=None, log_error=None, limit=100
    )
    spans = {(s.lane, s.label): (s.start_ms, s.end_ms) for s in t.spans}
    assert spans[("workspace", "ws-0")] == (1_793_610_002_000, 1_793_610_011_000)
    assert spans[("browser", "br-0")] == (1_793_610_006_000, 1_793_610_008_000)
    (call,) = t.tool_calls
    assert (call.server, call.tool, call.duration_ms, call.outcome) == (
        "github", "create_branch", 120, "error"
    )  # fmt: skip
    assert t.prs == (PR,) and t.outcome == "success" and t.goal == "deliver"
    assert t.evidence[0].mark.state is MarkState.MISSING  # not checked: no mark given


def test_lag_per_plane_reads_both_status_shapes() -> None:
    worker = {"projections": {"facts": {"lag": 0, "health": "ok"}, "catalog": {"lag": None}}}
    planes = {p.name: (p.lag, p.health) for p in planes_of_status(worker)}
    assert planes == {"facts": (0, "ok"), "catalog": (None, "")}
    assert planes_of_status(None) == []


@pytest.mark.parametrize(
    "bad", ["x", "a/b#", "a/b#1'; DROP TABLE runs --", "a b/c#1", "a/b#1\n", "a/b#1#2"]
)
def test_malformed_refs_never_reach_sql(bad: str) -> None:
    with pytest.raises(ConfigError):
        sql.pr_events_sql(bad)


def test_values_are_quoted_as_clickhouse_literals() -> None:
    text = sql.run_events_sql("run-'); SELECT 1 --\\")
    assert "run_id = 'run-\\'); SELECT 1 --\\\\'" in text
    with pytest.raises(ConfigError):
        sql.run_events_sql("run\x00")


def test_routes_and_paths_round_trip() -> None:
    assert route("") == route("/") and route("").kind == "overview"
    assert route(pr_path(PR).removeprefix("/pages/")).arg == PR
    assert run_path("run/0 #1") == "/pages/run/run%2F0%20%231"
    assert route("run/run/0 #1").arg == "run/0 #1"  # aiohttp decodes before routing
    assert route("assets/echarts.min.js").kind == "asset"
    assert route("assets/../../etc/passwd").kind == "missing"
    assert route("pr/a/b/c").kind == "missing"


def test_buckets_keep_the_charts_readable() -> None:
    hour, day = 3_600_000, 86_400_000
    assert sql.bucket_of(10 * hour) == "hour"
    assert sql.bucket_of(30 * day) == "day"
    assert sql.bucket_of(400 * day) == "week"
