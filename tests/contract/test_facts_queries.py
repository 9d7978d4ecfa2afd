"""Analyst queries on a real embedded chDB: read-only, bounded, on their own connection,
and every documented query in ``queries/`` with known answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import EventCodec
from schemas.errors import InvalidQueryError
from sinks.facts.query import FactsReader
from sinks.facts.settings import ClickHouseSettings
from sinks.facts.sql_guard import QueryResult
from sinks.facts.store import ClickHouseStore
from tests import facts_scenario
from tests.contract.test_facts_store import apply

pytest.importorskip("chdb")

QUERIES = Path(__file__).resolve().parents[2] / "queries"


@pytest.fixture()
def reader(tmp_path: Path) -> Iterator[FactsReader]:
    store = ClickHouseStore.open(ClickHouseSettings(), tmp_path)
    opened = FactsReader.open(
        ClickHouseSettings(query_timeout_s=2.0, query_max_rows=1000), tmp_path
    )
    yield opened
    opened.close()
    store.close()


def _count(reader: FactsReader, sql: str) -> int:
    return int(reader.query(sql).rows[0][0])


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO proof_facts (event_id) VALUES ('x')",
        "ALTER TABLE proof_facts DELETE WHERE 1",
        "DROP TABLE proof_facts",
        "SELECT 1; DROP TABLE proof_facts",
        "SELECT 1; SELECT 2",
        "/* SELECT */ DROP TABLE proof_facts",
        "-- SELECT\nTRUNCATE TABLE proof_facts",
        "SELECT 1 INTO OUTFILE '/tmp/proofstream-leak.txt'",
        "",
        "  -- only a comment",
    ],
)
def test_read_only_rejects_writes_and_multi_statements(reader: FactsReader, sql: str) -> None:
    with pytest.raises(InvalidQueryError):
        reader.query(sql)
    assert _count(reader, "SELECT count() FROM system.tables WHERE name = 'proof_facts'") == 1


def test_read_only_accepts_queries_and_keeps_quoted_semicolons(reader: FactsReader) -> None:
    assert reader.query("SELECT 'a;b' AS s;").rows == [("a;b",)]
    assert reader.query("-- why\nWITH 2 AS x SELECT x * 2 AS y").columns == ("y",)
    assert reader.query("SHOW TABLES").rows
    assert reader.query("DESCRIBE TABLE proof_facts").rows
    assert reader.query("EXPLAIN SELECT 1").rows


def test_engine_readonly_backs_the_parser(reader: FactsReader) -> None:
    # A SELECT passes the keyword check, but reading the host's files through the
    # file() table function is still refused by the engine's readonly=1.
    with pytest.raises(InvalidQueryError):
        reader.query("SELECT * FROM file('/etc/hostname', 'LineAsString')")


def test_failing_query_is_an_invalid_query(reader: FactsReader) -> None:
    with pytest.raises(InvalidQueryError):
        reader.query("SELECT * FROM no_such_table")


def test_an_unbounded_query_is_cut_off_by_the_time_limit(reader: FactsReader) -> None:
    with pytest.raises(InvalidQueryError, match="time limit"):
        reader.query("SELECT count() FROM system.numbers")


def test_a_huge_result_is_cut_off_by_the_row_limit(reader: FactsReader) -> None:
    with pytest.raises(InvalidQueryError, match="limit"):
        reader.query("SELECT number FROM system.numbers LIMIT 100000")
    assert len(reader.query("SELECT number FROM system.numbers LIMIT 1000").rows) == 1000


def _rows(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


@pytest.fixture(scope="class")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FactsReader]:
    path = tmp_path_factory.mktemp("analyst")
    store = ClickHouseStore.open(ClickHouseSettings(), path)
    records = facts_scenario.records(EventCodec())
    apply(store, records)
    apply(store, records[:40])  # a redelivery must not change any answer
    opened = FactsReader.open(ClickHouseSettings(), path)
    yield opened
    opened.close()
    store.close()


class TestAnalystQueries:
    """Every ``queries/*.sql`` on a chDB populated with the known scenario history."""

    def _run(self, reader: FactsReader, name: str) -> list[dict[str, Any]]:
        return _rows(reader.query((QUERIES / name).read_text()))

    def test_every_query_is_documented_and_runs(self, populated: FactsReader) -> None:
        files = sorted(QUERIES.glob("*.sql"))
        assert len(files) >= 6
        for path in files:
            text = path.read_text()
            assert text.startswith("-- Question:"), path.name
            assert "-- Columns:" in text and "-- Reading:" in text, path.name
            assert populated.query(text).rows, path.name

    def test_runs_by_team_type_and_outcome(self, populated: FactsReader) -> None:
        got = {
            (r["team_type"], r["outcome"], r["state"]): r["runs"]
            for r in self._run(populated, "runs_by_team_type_and_outcome.sql")
        }
        assert got == {
            ("agentsquad", "success", "finished"): 1,
            ("ouroboros", "failure", "finished"): 1,
            ("research", None, "running"): 1,
        }

    def test_lead_time_joins_issue_and_merged_pr(self, populated: FactsReader) -> None:
        (row,) = self._run(populated, "issue_to_merge_lead_time.sql")
        assert row["repository"] == facts_scenario.REPO
        assert row["merged_prs"] == 2  # PR 12 closes no issue
        assert row["median_lead_time_s"] == facts_scenario.EXPECTED["median_lead_time_s"]

    def test_prs_without_browser_proof(self, populated: FactsReader) -> None:
        rows = self._run(populated, "prs_merged_without_browser_proof.sql")
        assert {r["pr_ref"] for r in rows} == facts_scenario.EXPECTED["prs_without_browser_proof"]

    def test_tool_latency_p95(self, populated: FactsReader) -> None:
        rows = {
            (r["mcp_server"], r["tool"]): r for r in self._run(populated, "tool_latency_p95.sql")
        }
        github = rows[("github", "create_pull_request")]
        assert (github["calls"], github["p95_ms"]) == (
            100,
            facts_scenario.EXPECTED["github_p95_ms"],
        )
        assert (rows[("fs", "read")]["calls"], rows[("fs", "read")]["p95_ms"]) == (3, 5)

    def test_evidence_coverage(self, populated: FactsReader) -> None:
        (row,) = self._run(populated, "evidence_coverage_by_project.sql")
        assert row["project"] == "alpha"
        assert (row["merged_prs"], row["with_evidence"], row["with_browser_proof"]) == (3, 2, 1)
        assert row["evidence_bytes"] == 2048 + 512

    def test_agent_handoffs(self, populated: FactsReader) -> None:
        got = {
            (r["from_role"], r["to_role"]): (r["handoffs"], r["runs"])
            for r in self._run(populated, "agent_handoffs.sql")
        }
        assert got == {("planner", "coder"): (2, 2), ("coder", "tester"): (1, 1)}
