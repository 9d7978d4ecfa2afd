"""Every command of the README, through the real entry point, against the state
``proofstream demo`` leaves: exit codes as documented, nothing on stderr on success,
``--json`` parsing into the documented shape with the demo's data in it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from proofstream.worker_process import WorkerProcess
from tests.cli.conftest import Demo
from tests.cli.readme_reference import JsonDoc, Shape, commands, json_shapes
from tests.waiting import wait_until

pytestmark = pytest.mark.broker

PLANES = ("facts", "identity", "catalog", "evidence", "lineage")
SQL = "SELECT event_type, count() AS n FROM proof_facts FINAL GROUP BY event_type"

# what each README row runs for its human output; the rows left out say why
HUMAN = {
    ("emit",): None,  # test_emit_exit_codes: it needs a file of events
    ("tail",): ["tail", "--from-beginning", "--max", "3", "--timeout", "15"],
    ("query",): ["query", SQL],
    ("status",): ["status"],
    ("report",): None,  # test_report_writes_a_page: it writes a file
    ("schemas", "check"): ["schemas", "check"],
    ("replay", "verify"): ["replay", "verify", "facts"],
    ("replay", "rebuild"): ["replay", "rebuild", "facts", "--dry-run"],
    ("replay", "generations"): ["replay", "generations", "facts"],
    ("archive", "verify"): ["archive", "verify"],
    ("dlq", "list"): ["dlq", "list"],
    ("dlq", "redrive"): ["dlq", "redrive", "--dry-run"],
    ("evidence", "info"): ["evidence", "info"],
    ("evidence", "audit"): ["evidence", "audit"],
    ("catalog", "export"): None,  # test_state_changing_commands: it writes a file
}
CHANGING = {  # run last, in this order, by test_state_changing_commands
    ("archive", "sync"),
    ("replay", "gc"),
    ("catalog", "reindex"),
    ("catalog", "export"),
    ("evidence", "put"),
}
ELSEWHERE = {
    ("demo",): "the fixture of this tier runs it",
    ("run",): "test_status_and_query_ask_the_running_worker here; the integration tier",
    ("kafka", "up"): ".ci/run starts the broker with it; the fault and secure tiers use"
    " --nodes 3 and --secure",
    ("kafka", "down"): ".ci/run stops every broker with it",
    ("kafka", "status"): "its --json row below",
    ("evidence", "verify"): "its --json row below and test_failures_*",
    ("evidence", "migrate"): "tests/contract/test_evidence_migrate.py: it needs a pre-tlog ledger",
}


def _ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr == "", done.stderr[-2000:]


def test_every_readme_command_is_run_by_this_tier() -> None:
    documented = {doc.path for doc in commands()}
    ran = {p for p, argv in HUMAN.items() if argv} | CHANGING | {("emit",), ("report",)}
    assert ran | set(ELSEWHERE) == documented


def test_the_demo_answers_from_every_plane(demo: Demo) -> None:
    out = demo.done.stdout
    assert demo.done.stderr == "", demo.done.stderr[-2000:]
    assert "3 undecodable records written by a misbehaving client" in out
    assert "prs_merged_without_browser_proof" in out
    assert "every PR merged without browser proof has an open gap" in out
    assert "RDF: which agents acted in run-0000?" in out
    assert "DataHub Lite catalog" in out
    assert "verified 1 ledger entry" in out
    assert "equal: live == fold(log)" in out
    port = demo.settings.processors.web_port
    assert f"overview page: http://127.0.0.1:{port}/pages/" in out
    report = demo.settings.state_dir.resolve() / "reports" / "pr-fractalops-portal-200.html"
    assert f"report of fractalops/portal#200: {report}" in out
    assert 'data-mark="verified"' in report.read_text()  # its evidence proved when written


@pytest.mark.parametrize("path", [p for p, argv in HUMAN.items() if argv], ids=" ".join)
def test_human_output(demo: Demo, path: tuple[str, ...]) -> None:
    argv = HUMAN[path]
    assert argv is not None
    done = demo.run(*argv)
    _ok(done)
    assert done.stdout.strip()


def _argv(doc: JsonDoc, demo: Demo) -> list[str]:
    words = doc.usage.split()[1:]
    concrete = {"SQL": SQL, "PLANES": "all", "PLANE": "facts", "SHA256": demo.artifact_sha256}
    argv = [concrete.get(w, w) for w in words]
    if argv[0] == "tail":
        argv += ["--from-beginning", "--max", "5", "--timeout", "15"]
    return argv


def _check_shape(doc: JsonDoc, text: str) -> list[Any]:
    if doc.shape is Shape.LINES:
        items = [json.loads(line) for line in text.splitlines()]
        assert items
        for item in items:
            assert set(doc.keys) <= set(item)
        return items
    value = json.loads(text)
    if doc.shape is Shape.OBJECT:
        keys = list(value)
        assert keys[: len(doc.keys)] == list(doc.keys)
        assert doc.open_ended or keys == list(doc.keys)
    elif doc.shape is Shape.PER_PLANE:
        assert set(value) == set(PLANES)
        for item in value.values():
            assert list(item) == list(doc.keys)
    elif doc.shape is Shape.ROWS:
        assert value
        for item in value:
            assert list(item) == list(doc.keys)
    else:
        assert value
        assert all(isinstance(item, dict) for item in value)
    return [value]


@pytest.mark.parametrize("doc", json_shapes(), ids=lambda d: d.usage.removeprefix("proofstream "))
def test_json_output_has_the_documented_shape_and_the_data(demo: Demo, doc: JsonDoc) -> None:
    argv = _argv(doc, demo)
    done = demo.run(*argv)
    assert done.stderr == "", done.stderr[-2000:]
    if argv[:2] == ["kafka", "status"]:  # 1 documents "not running" (this state dir's)
        parsed = json.loads(done.stdout)
        assert done.returncode == (0 if parsed["running"] else 1)
    else:
        assert done.returncode == 0, done.stdout[-2000:]
    (value, *rest) = _check_shape(doc, done.stdout)
    _check_data(argv, value, rest, demo)


def _check_data(argv: list[str], value: Any, rest: list[Any], demo: Demo) -> None:
    """The values a script would rely on, on a store that has data."""
    command = tuple(argv[:2])
    if argv[0] == "status":
        assert value["worker"] == "not running"
        assert value["dlq_records"] == 3 == value["dead_letters_all_projections"]
        assert set(value["end_offsets"]) == {"0", "1", "2"}
        for name, plane in value["projections"].items():
            assert plane["lag"] == 0, (name, plane)
            assert plane["watermark"], name
            assert plane["health"].startswith("ok"), (name, plane)
    elif argv[0] == "query":
        counts = {row["event_type"]: row["n"] for row in value}
        assert counts["run.started"] == 6
        assert sum(counts.values()) > 6
    elif argv[0] == "tail":
        assert len([value, *rest]) == 5
    elif command == ("replay", "verify") or (
        command == ("replay", "rebuild") and "--dry-run" not in argv
    ):
        for name, result in value.items():
            assert result["equal"] is True, (name, result)
            assert result["events"] == 104 and result["skipped"] == 3, (name, result)
    elif command == ("replay", "generations"):
        assert [g["status"] for g in value].count("live") == 1
        assert all(g["created_at"].endswith("Z") for g in value)
    elif command == ("archive", "verify"):
        assert value["intact"] is True and value["problems"] == []
    elif command == ("dlq", "list"):
        assert value["total"] == 3
        assert value["letters"] == [{"error": "DecodeError", "projection": "*", "count": 3}]
    elif command == ("evidence", "verify"):
        assert value["verified"] is True and value["error"] is None
        assert value["sha256"] == demo.artifact_sha256
        assert value["entries"] and value["checkpoint"]["signed_at"].endswith("Z")
    elif command == ("evidence", "audit"):
        assert value["consistent"] is True
    elif command == ("evidence", "info"):
        assert value["checkpoint"]["tree_size"] >= 1


def test_failures_have_the_documented_exit_codes_and_one_line(demo: Demo, tmp_path: Path) -> None:
    # 1: a check ran and failed; here a copy of the log whose checkpoint was altered
    log = Path(json.loads(demo.run("evidence", "info", "--json").stdout)["log"])
    forged = tmp_path / "forged-log"
    shutil.copytree(log, forged)
    lines = (forged / "checkpoint").read_text().split("\n")
    lines[1] = str(int(lines[1]) + 1)  # claim one more entry than was signed
    (forged / "checkpoint").write_text("\n".join(lines))
    sha = demo.artifact_sha256
    cases = [
        (["evidence", "verify", sha, "--log", str(forged)], 1),
        (["query", "DROP TABLE proof_facts"], 2),
        (["replay", "verify", "no-such-plane"], 2),
        (["evidence", "verify", "0" * 64], 2),  # not recorded: nothing to verify
        (["status", "--no-such-flag"], 2),
    ]
    for argv, code in cases:
        done = demo.run(*argv)
        assert done.returncode == code, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr, argv
        if argv[0] != "status":  # a usage error prints typer's usage box
            assert len(done.stderr.strip().splitlines()) == 1, (argv, done.stderr)
    failed = demo.run("evidence", "verify", sha, "--log", str(forged), "--json")
    assert failed.returncode == 1
    verdict = json.loads(failed.stdout)
    assert verdict["verified"] is False and verdict["error"]


def test_emit_exit_codes(demo: Demo, tmp_path: Path) -> None:
    good = demo.run("tail", "--from-beginning", "--max", "2", "--json", "--timeout", "15")
    _ok(good)
    lines = good.stdout.splitlines()
    assert len(lines) == 2
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n")
    # the same events again: the stores deduplicate them by event_id
    _ok(demo.run("emit", "--file", str(events)))
    broken = {k: v for k, v in json.loads(lines[0]).items() if k != "actor"}
    events.write_text(lines[0] + "\n" + json.dumps(broken) + "\n")
    done = demo.run("emit", "--file", str(events))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == "sent 1, rejected 1\n"
    assert done.stderr == "line 2: actor: Field required\n"  # the field is named


def test_report_writes_a_page(demo: Demo, tmp_path: Path) -> None:
    page = tmp_path / "overview.html"
    done = demo.run("report", "--out", str(page), "--overview")
    _ok(done)
    html = page.read_text()
    assert html.startswith("<!doctype html>")
    assert "without browser proof" in html


def test_state_changing_commands(demo: Demo, tmp_path: Path) -> None:
    _ok(demo.run("archive", "sync"))
    assert json.loads(demo.run("archive", "verify", "--json").stdout)["segments"] >= 1
    _ok(demo.run("replay", "gc", "facts"))
    statuses = [
        g["status"] for g in json.loads(demo.run("replay", "generations", "facts", "--json").stdout)
    ]
    assert statuses.count("live") == 1
    _ok(demo.run("catalog", "reindex"))
    exported = tmp_path / "catalog.json"
    _ok(demo.run("catalog", "export", "--out", str(exported)))
    assert json.loads(exported.read_text())
    artifact = tmp_path / "proof.txt"
    artifact.write_bytes(b"a browser proof\n")
    first, again = (
        demo.run("evidence", "put", str(artifact)),
        demo.run("evidence", "put", str(artifact)),
    )
    _ok(first)
    assert first.stdout == again.stdout  # content-addressed: the same digest


def test_status_and_query_ask_the_running_worker(demo: Demo) -> None:
    """With a worker running (it owns chDB, Oxigraph and DataHub Lite), ``status``
    takes every plane's health from the worker's API instead of opening a store, and
    ``query`` answers the same as without it. SIGTERM stops the worker, exit 0."""
    alone = json.loads(demo.run("query", SQL, "--json").stdout)
    worker = WorkerProcess(demo.settings, demo.env)
    worker.start()
    try:
        # the worker catches up with what test_emit_exit_codes sent meanwhile
        def caught_up() -> dict[str, Any] | None:
            status = demo.run("status", "--json")
            _ok(status)
            report: dict[str, Any] = json.loads(status.stdout)
            planes = report["projections"].values()
            return report if all(p["lag"] == 0 for p in planes) else None

        report = wait_until(caught_up, timeout=120, interval=0.5, what="every plane lag 0")
        assert report["worker"] == "running"
        assert report["pages"].endswith("/pages/")
        for name, plane in report["projections"].items():
            assert "worker not running" not in plane["health"], (name, plane)
        through = demo.run("query", SQL, "--json")
        _ok(through)
        key = lambda rows: sorted(rows, key=lambda r: r["event_type"])  # noqa: E731
        assert key(json.loads(through.stdout)) == key(alone)
    finally:
        began = time.monotonic()
        code = worker.stop(timeout_s=60.0)
    assert code == 0
    assert time.monotonic() - began < demo.settings.processors.stop_timeout_s + 30
