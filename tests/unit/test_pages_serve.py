"""The worker's page handler on fakes of the worker API's ``query`` and ``status``:
what each route answers, and that a failing store is a 503 page, never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import proofstream.pages
from proofstream.pages.serve import PageServer
from proofstream.settings import Settings
from schemas.errors import InvalidQueryError
from tests.pages_support import pr_rows


class FakeApi:
    """Answers the pages' queries from fixed rows; records what was asked."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.asked: list[str] = []

    async def query(self, sql: str) -> dict[str, Any]:
        self.asked.append(sql)
        if self.fail:
            raise InvalidQueryError(sql, "query stopped by the time limit")
        if "FROM proof_facts" in sql:
            rows = pr_rows()
            columns = list(rows[0])
            return {"columns": columns, "rows": [[r[c] for c in columns] for r in rows]}
        return {"columns": ["n"], "rows": []}

    async def status(self) -> dict[str, Any]:
        return {"projections": {"facts": {"lag": 0, "health": "ok"}}}


def _get(api: FakeApi, path: str, tmp_path: Path) -> tuple[int, str, str]:
    server = PageServer(Settings(state_dir=tmp_path), api.query, api.status)
    try:
        query: Mapping[str, str] = {}
        status, content_type, body = asyncio.run(server(path, query))
    finally:
        server.close()
    return status, content_type, body.decode()


def test_a_pr_page_is_built_from_the_worker_query_path(tmp_path: Path) -> None:
    api = FakeApi()
    status, content_type, body = _get(api, "pr/fractalops/portal/200", tmp_path)
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "fractalops/portal#200" in body and "no transparency log" in body
    assert any("'fractalops/portal#200'" in sql for sql in api.asked)


def test_assets_missing_pages_bad_ids_and_a_failing_store(tmp_path: Path) -> None:
    status, content_type, body = _get(FakeApi(), "assets/pages.js", tmp_path)
    assert status == 200 and content_type.startswith("text/javascript") and "proofPage" in body
    assert _get(FakeApi(), "assets/../secret", tmp_path)[0] == 404
    assert _get(FakeApi(), "nowhere", tmp_path)[0] == 404
    assert _get(FakeApi(), "run/bad\x01id", tmp_path)[0] == 400
    status, _, body = _get(FakeApi(fail=True), "", tmp_path)
    assert status == 503 and "time limit" in body


def test_the_package_surface_is_pinned() -> None:
    assert sorted(proofstream.pages.__all__) == [
        "AssetMode",
        "Links",
        "MarkState",
        "Overview",
        "PrChain",
        "RunTimeline",
        "render_overview",
        "render_pr",
        "render_run",
    ]
