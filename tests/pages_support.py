"""Event rows as the pages' facts queries return them, for the pure page tests."""

from __future__ import annotations

from typing import Any

import orjson

from proofstream.pages.chain import build_pr_chain
from proofstream.pages.model import CheckpointView, InclusionView, Mark, MarkState, PrChain

HOSTILE = '</script><script>alert(1)</script>"><img src=x onerror=alert(2)>{b}\u2028&amp;'
"""A title no page may execute: it closes the script element, opens an event
handler, uses an ECharts template and a JSON-breaking line separator."""

PR = "fractalops/portal#200"
ISSUE = "fractalops/portal#100"


def row(n: int, event_type: str, run_id: str | None = "run-0000", **payload: Any) -> dict[str, Any]:
    """The row of event ``n`` (its id is ``e<n>``, its time ``n`` seconds in)."""
    return {
        "event_id": f"e{n}",
        "event_type": event_type,
        "at_ms": 1_793_610_000_000 + n * 1000,
        "run_id": run_id,
        "actor_id": "tester-0",
        "actor_role": "tester",
        "team_type": "agentsquad",
        "project": "fractalops",
        "repository": "fractalops/portal",
        "payload": orjson.dumps(payload).decode(),
        "causation_id": None,
        "attributes": {},
    }


def pr_rows(title: str = "Fixes #100: change 0", *, proof: bool = True) -> list[dict[str, Any]]:
    """One AgentSquad run from issue to merge, with a failed tool call."""
    rows = [
        row(0, "run.started", goal="deliver"),
        row(1, "agent.handoff", from_role="planner", to_role="backend", reason="done"),
        row(2, "workspace.leased", workspace_id="ws-0", lease_id="wl-0", ttl_seconds=60),
        row(3, "tool.invoked", mcp_server="github", tool="create_branch", duration_ms=120,
            outcome="error", input_digest="a" * 64, retries=0),
        row(4, "issue.opened", issue_ref=ISSUE, title="Change 0"),
        row(5, "pr.opened", pr_ref=PR, title=title, head_sha="h", base_ref="main"),
        row(6, "browser.leased", browser_id="br-0", lease_id="bl-0", ttl_seconds=60),
    ]  # fmt: skip
    if proof:
        rows.append(
            row(7, "evidence.recorded", sha256="b" * 64, kind="browser_proof", proves=PR,
                media_type="image/png", size_bytes=10)
        )  # fmt: skip
    rows += [
        row(8, "browser.released", browser_id="br-0", lease_id="bl-0"),
        row(9, "pr.reviewed", pr_ref=PR, review_state="approved", commit_sha="h"),
        row(10, "pr.merged", pr_ref=PR, merge_sha="m" * 40, merged_at=1_793_610_010_500_000),
        row(11, "workspace.released", workspace_id="ws-0", lease_id="wl-0"),
        row(12, "run.finished", outcome="success", duration_ms=12_000),
    ]
    return rows


CHECKPOINT = CheckpointView(
    origin="fractalops.io/chronicle",
    size=8,
    root_hex="ab" * 32,
    root_b64="q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
    key="fractalops.io/chronicle+0000abcd",
    note="fractalops.io/chronicle\n8\nq6s=\n\n— fractalops.io/chronicle sig\n",
)


def verified() -> Mark:
    proof = InclusionView(7, "cd" * 32, ("01" * 32, "02" * 32), '{"event_id":"e7"}')
    return Mark(MarkState.VERIFIED, "leaf 7 proves into the signed root of size 8", (proof,))


def failed() -> Mark:
    return Mark(MarkState.FAILED, "INCLUSION PROOF FAILED for leaf 7")


def chain(
    title: str = "Fixes #100: change 0", *, proof: bool = True, mark: Mark | None = None
) -> PrChain:
    """The chain of :data:`PR`; open gap when ``proof`` is False."""
    gap = None if proof else {"pr_ref": PR, "merged_at_ms": 1_793_610_010_500}
    return build_pr_chain(
        PR,
        pr_rows(title, proof=proof),
        marks={"e7": mark or verified()},
        gap=gap,
        checkpoint=CHECKPOINT,
        log_error=None,
        limit=100,
    )
