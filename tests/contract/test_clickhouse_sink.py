"""``ClickHouseSink`` on a real embedded chDB: the shared sink contract plus the
ClickHouse specifics (dedup, migrations, DSNs, read-only queries, analyst SQL).

chDB allows one engine directory per process, so every sink here is closed before
the next one opens (fixtures are function- or class-scoped, never overlapping).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.errors import ConfigError, InvalidQueryError
from sinks.base import Sink
from sinks.clickhouse import (
    ClickHouseSettings,
    ClickHouseSink,
    apply_migrations,
    backend_of,
    dedup_token,
    load_migrations,
    run_query,
)
from tests.contract.sink_contract import SinkContract, make_batch

pytest.importorskip("chdb")


def _open(tmp_path: Path) -> ClickHouseSink:
    return ClickHouseSink.open(ClickHouseSettings(), tmp_path)


def _ids(sink: ClickHouseSink, table: str = "proof_facts") -> list[str]:
    rows = run_query(sink, f"SELECT event_id FROM {table} FINAL").rows
    return [str(row[0]) for row in rows]


class TestClickHouseSinkContract(SinkContract):
    def make_sink(self, tmp_path: Path) -> Sink:
        return _open(tmp_path)

    def stored_ids(self, sink: Sink) -> set[str]:
        assert isinstance(sink, ClickHouseSink)
        return set(_ids(sink))


@pytest.fixture()
def sink(tmp_path: Path) -> Iterator[ClickHouseSink]:
    opened = _open(tmp_path)
    yield opened
    opened.close()


def _count(sink: ClickHouseSink, sql: str) -> int:
    return int(run_query(sink, sql).rows[0][0])


def test_duplicate_batch_changes_nothing(sink: ClickHouseSink) -> None:
    batch = make_batch(30)
    sink.write(batch)
    sink.write(batch[10:20])  # a differently cut redelivery: collapsed by FINAL
    sink.write(batch)
    sink.flush()
    assert _count(sink, "SELECT count() FROM proof_facts FINAL") == 30
    assert _count(sink, "SELECT uniqExact(event_id) FROM proof_facts") == 30
    assert _count(sink, "SELECT count() FROM runs FINAL") == 30


def test_dedup_token_drops_the_exact_same_batch_before_it_is_written(
    sink: ClickHouseSink,
) -> None:
    batch = make_batch(12)
    sink.write(batch)
    sink.write(batch)
    # Without FINAL: the second insert never became a part, thanks to the token.
    assert _count(sink, "SELECT count() FROM proof_facts") == 12
    assert _count(sink, "SELECT count() FROM runs") == 12


def test_dedup_token_names_exactly_the_positions() -> None:
    batch = make_batch(10) + make_batch(3, partition=1, start=50)
    token = dedup_token("proof_facts", batch, 1)
    assert token.startswith("proof_facts:v1:events:0:0-9,events:1:50-52:")
    assert token == dedup_token("proof_facts", list(reversed(batch)), 1)
    gapped = batch[:4] + batch[5:]  # same ranges, one offset missing
    assert dedup_token("proof_facts", gapped, 1) != token
    assert dedup_token("runs", batch, 1) != token
    assert dedup_token("proof_facts", batch, 2) != token


def test_migrations_are_idempotent_on_reopen(tmp_path: Path) -> None:
    first = _open(tmp_path)
    try:
        versions = [m.version for m in load_migrations()]
        assert versions == sorted(versions) and versions[:2] == [1, 2]
        assert apply_migrations(first.client) == []  # everything already applied
        recorded = run_query(first, "SELECT version FROM schema_migrations FINAL ORDER BY version")
        assert [row[0] for row in recorded.rows] == versions
    finally:
        first.close()
    second = _open(tmp_path)  # re-running on open is a no-op too
    try:
        assert _count(second, "SELECT count() FROM schema_migrations") == len(versions)
    finally:
        second.close()


def test_changed_migration_is_refused(sink: ClickHouseSink) -> None:
    changed = [m.model_copy(update={"checksum": "0" * 64}) for m in load_migrations()]
    with pytest.raises(ConfigError, match="changed after it was applied"):
        apply_migrations(sink.client, changed)


def test_dsn_parsing(tmp_path: Path) -> None:
    assert ClickHouseSettings().resolve_dsn(tmp_path) == f"chdb://{tmp_path.resolve()}/clickhouse"
    assert backend_of("chdb:///var/lib/proofstream/clickhouse") == "chdb"
    assert backend_of("http://default:pw@127.0.0.1:8123/proofstream") == "http"
    assert backend_of("https://ch.example.org:8443") == "http"
    remote = ClickHouseSettings(dsn="https://ch.example.org:8443")
    assert remote.resolve_dsn(tmp_path) == "https://ch.example.org:8443"
    for bad in ("chdb://relative/dir", "tcp://host:9000", "http://", "/plain/path"):
        with pytest.raises(ConfigError):
            backend_of(bad)
    with pytest.raises(ConfigError):
        ClickHouseSettings(dsn="mysql://h").resolve_dsn(tmp_path)


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
def test_read_only_rejects_writes_and_multi_statements(sink: ClickHouseSink, sql: str) -> None:
    with pytest.raises(InvalidQueryError):
        run_query(sink, sql)
    assert _count(sink, "SELECT count() FROM system.tables WHERE name = 'proof_facts'") == 1


def test_read_only_accepts_queries_and_keeps_quoted_semicolons(sink: ClickHouseSink) -> None:
    assert run_query(sink, "SELECT 'a;b' AS s;").rows == [("a;b",)]
    assert run_query(sink, "-- why\nWITH 2 AS x SELECT x * 2 AS y").columns == ("y",)
    assert run_query(sink, "SHOW TABLES").rows
    assert run_query(sink, "DESCRIBE TABLE proof_facts").rows
    assert run_query(sink, "EXPLAIN SELECT 1").rows


def test_engine_readonly_backs_the_parser(sink: ClickHouseSink) -> None:
    # A SELECT passes the keyword check, but reading the host's files through the
    # file() table function is still refused by the engine's readonly=1.
    with pytest.raises(InvalidQueryError):
        run_query(sink, "SELECT * FROM file('/etc/hostname', 'LineAsString')")


def test_failing_query_is_an_invalid_query(sink: ClickHouseSink) -> None:
    with pytest.raises(InvalidQueryError):
        run_query(sink, "SELECT * FROM no_such_table")


def test_write_query_runs_when_read_only_is_off(sink: ClickHouseSink) -> None:
    run_query(sink, "CREATE TABLE scratch (a UInt8) ENGINE = Memory", read_only=False)
    assert _count(sink, "SELECT count() FROM system.tables WHERE name = 'scratch'") == 1


def test_closed_sink_is_unavailable(tmp_path: Path) -> None:
    from schemas.errors import SinkUnavailableError

    closed = _open(tmp_path)
    closed.close()
    with pytest.raises(SinkUnavailableError):
        closed.write(make_batch(1))


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


QUERIES = Path(__file__).resolve().parents[2] / "queries"


@pytest.fixture(scope="class")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseSink]:
    from schemas.codec import EventCodec
    from tests.facts_scenario import logged

    opened = _open(tmp_path_factory.mktemp("analyst"))
    batch = logged(EventCodec())
    opened.write(batch)
    opened.write(batch[:40])  # a redelivery must not change any answer
    opened.flush()
    yield opened
    opened.close()


class TestAnalystQueries:
    """Every ``queries/*.sql`` on a chDB populated with the known scenario history."""

    def _run(self, sink: ClickHouseSink, name: str) -> list[dict[str, Any]]:
        return _rows(run_query(sink, (QUERIES / name).read_text()))

    def test_every_query_is_documented_and_runs(self, populated: ClickHouseSink) -> None:
        files = sorted(QUERIES.glob("*.sql"))
        assert len(files) >= 6
        for path in files:
            text = path.read_text()
            assert text.startswith("-- Question:"), path.name
            assert "-- Columns:" in text and "-- Reading:" in text, path.name
            assert run_query(populated, text).rows, path.name

    def test_runs_by_team_type_and_outcome(self, populated: ClickHouseSink) -> None:
        got = {
            (r["team_type"], r["outcome"], r["state"]): r["runs"]
            for r in self._run(populated, "runs_by_team_type_and_outcome.sql")
        }
        assert got == {
            ("agentsquad", "success", "finished"): 1,
            ("ouroboros", "failure", "finished"): 1,
            ("research", None, "running"): 1,
        }

    def test_lead_time_joins_issue_and_merged_pr(self, populated: ClickHouseSink) -> None:
        from tests.facts_scenario import EXPECTED, REPO

        (row,) = self._run(populated, "issue_to_merge_lead_time.sql")
        assert row["repository"] == REPO
        assert row["merged_prs"] == 2  # PR 12 closes no issue
        assert row["median_lead_time_s"] == EXPECTED["median_lead_time_s"]

    def test_prs_without_browser_proof(self, populated: ClickHouseSink) -> None:
        from tests.facts_scenario import EXPECTED

        rows = self._run(populated, "prs_merged_without_browser_proof.sql")
        assert {r["pr_ref"] for r in rows} == EXPECTED["prs_without_browser_proof"]

    def test_tool_latency_p95(self, populated: ClickHouseSink) -> None:
        from tests.facts_scenario import EXPECTED

        rows = {
            (r["mcp_server"], r["tool"]): r for r in self._run(populated, "tool_latency_p95.sql")
        }
        github = rows[("github", "create_pull_request")]
        assert (github["calls"], github["p95_ms"]) == (100, EXPECTED["github_p95_ms"])
        assert (rows[("fs", "read")]["calls"], rows[("fs", "read")]["p95_ms"]) == (3, 5)

    def test_evidence_coverage(self, populated: ClickHouseSink) -> None:
        (row,) = self._run(populated, "evidence_coverage_by_project.sql")
        assert row["project"] == "alpha"
        assert (row["merged_prs"], row["with_evidence"], row["with_browser_proof"]) == (3, 2, 1)
        assert row["evidence_bytes"] == 2048 + 512

    def test_agent_handoffs(self, populated: ClickHouseSink) -> None:
        got = {
            (r["from_role"], r["to_role"]): (r["handoffs"], r["runs"])
            for r in self._run(populated, "agent_handoffs.sql")
        }
        assert got == {("planner", "coder"): (2, 2), ("coder", "tester"): (1, 1)}

    def test_views_and_direct_path_agree(self, populated: ClickHouseSink) -> None:
        direct = run_query(populated.client, "SELECT pr_ref FROM v_prs_without_browser_proof")
        via_sink = run_query(populated, "SELECT pr_ref FROM v_prs_without_browser_proof")
        assert direct == via_sink
