"""Handlers of issue and pull-request delivery: the GitHub issue or PR as a dataset
(platform ``github``) and each delivery step (opened, reviewed, merged) as a process
instance that outputs it. A PR links the issue it closes as its upstream. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datahub.metadata import schema_classes as dh

from schemas.refs import closes_issue_ref
from sinks.catalog import aspects as a
from sinks.catalog.context import Context, micros_to_ms, props

__all__ = ["issue_opened", "pr_merged", "pr_opened", "pr_reviewed"]


def _github_props(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "github_app_installation_id": record.get("github_app_installation_id"),
        "delivery_identity": record.get("delivery_identity"),
        "run_id": record["subject"].get("run_id"),
    }


_DELIVERY_EXTRA = frozenset({"review_state", "commit_sha", "merge_sha", "head_sha"})


def _delivery(ctx: Context, target: str, name: str, *, merged: bool, **key: Any) -> None:
    r = ctx.record
    urn = ctx.urns.instance(delivery=r["event_type"], **key)
    extra = {k: v for k, v in r.items() if k in _DELIVERY_EXTRA}  # record order, as stored
    ctx.emit(
        urn,
        a.instance_properties(
            name,
            ctx.occurred_ms(),
            ctx.actor(),
            props("delivery", event_type=r["event_type"], **_github_props(r), **extra),
        ),
        ctx.children(),
        a.instance_outputs(target),
    )
    if merged:
        at = micros_to_ms(r.get("merged_at") or r["occurred_at"])
        ctx.emit(urn, a.run_event(at, dh.RunResultTypeClass.SUCCESS, "merged"))


def _github_dataset(ctx: Context, kind: str, ref: str, title: str, **extra: Any) -> str:
    urn = ctx.github(kind, ref)
    repo, _, number = ref.partition("#")
    ctx.emit(
        urn,
        a.dataset_properties(
            ref,
            props(
                "issue" if kind == "issues" else "pull_request",
                ref=ref,
                repository=repo,
                project=ctx.project,
                **extra,
            ),
            description=title,
            external_url=f"https://github.com/{repo}/{kind}/{number}" if number else None,
        ),
        a.sub_types("Issue" if kind == "issues" else "Pull Request"),
        a.container(ctx.repository(repo) if number else ctx.home),
    )
    return urn


def issue_opened(ctx: Context) -> None:
    r = ctx.record
    ref = str(r["issue_ref"])
    urn = _github_dataset(ctx, "issues", ref, str(r["title"]), **_github_props(r))
    _delivery(ctx, urn, f"open {ref}", merged=False, ref=ref)


def pr_opened(ctx: Context) -> None:
    r = ctx.record
    ref = str(r["pr_ref"])
    closes = closes_issue_ref(r.get("attributes"), r.get("title"), ref.split("#", maxsplit=1)[0])
    urn = _github_dataset(
        ctx,
        "pull",
        ref,
        str(r["title"]),
        head_sha=r["head_sha"],
        base_ref=r["base_ref"],
        closes_issue=closes,
        **_github_props(r),
    )
    if closes:
        lineage = dh.DatasetLineageTypeClass.TRANSFORMED
        ctx.emit(urn, a.upstream_lineage(ctx.github("issues", closes), lineage))
    _delivery(ctx, urn, f"open {ref}", merged=False, ref=ref)


def pr_reviewed(ctx: Context) -> None:
    r = ctx.record
    ref = str(r["pr_ref"])
    target = ctx.github("pull", ref)
    name = f"review {ref} ({r['review_state']})"
    _delivery(
        ctx, target, name, merged=False, ref=ref, commit=r["commit_sha"], reviewer=r["actor"]["id"]
    )


def pr_merged(ctx: Context) -> None:
    r = ctx.record
    ref = str(r["pr_ref"])
    target = ctx.github("pull", ref)
    _delivery(ctx, target, f"merge {ref}", merged=True, ref=ref, sha=r["merge_sha"])
