"""The proof pages in a real browser: headless Chromium (Debian's ``chromium``) driven
by Playwright, against a real worker fed through the real broker.

One pipeline for the module: the demo workload (plus a PR with a hostile title and
a browser proof stored in Chronicle) goes through Kafka into a worker running the
facts and evidence planes behind a bearer token. The served pages are checked
while it runs; then it stops, ``proofstream report`` writes self-contained files
(opened from disk with every network request refused), and a tampered ledger must
turn the mark red. Tests run in file order: the served ones first. Screenshots go
to ``test-artifacts/pages/`` (git-ignored).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from producers import EventProducer
from producers.settings import KafkaSettings, TopicSettings
from proofstream.evidence import record_evidence
from proofstream.pages.serve import pages_url, pr_path, run_path
from proofstream.settings import Settings, settings_env
from proofstream.status import collect_status
from proofstream.worker_client import WorkerClient
from proofstream.worker_process import WorkerProcess
from proofstream.workload import Workload, simulate
from schemas.events import EvidenceKind, PullRequestOpened
from sinks.evidence.artifacts import ArtifactStore
from sinks.evidence.tiles import decode_bundle, encode_bundle
from tests.browser.chromium import Browser, browser_session
from tests.conftest import TopicFactory
from tests.pages_support import HOSTILE
from tests.ports import free_port
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.broker]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"
HOSTILE_PR = "fractalops/portal#666"
GREEN, RED = "rgb(30, 158, 87)", "rgb(214, 48, 49)"


@dataclass
class Pipeline:
    settings: Settings
    """Without the token (what the worker and the CLI are given as ``PROOFSTREAM_*``)."""
    token: str
    worker: WorkerProcess
    workload: Workload
    proven_pr: str
    gap_pr: str
    stored_sha: str
    topics: TopicFactory

    @property
    def base(self) -> str:
        return pages_url(self.settings).removesuffix("/pages/")


def _hostile_pr(workload: Workload) -> PullRequestOpened:
    template = next(e for e in workload.events if isinstance(e, PullRequestOpened))
    data = template.model_dump()
    data.update(event_id=uuid.uuid4(), pr_ref=HOSTILE_PR, title=HOSTILE)
    return PullRequestOpened.model_validate(data)


@pytest.fixture(scope="module")
def pipeline(
    settings: Settings, bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    topics = TopicFactory(AdminClient(settings.kafka.client_config()), "test-pages")
    names = TopicSettings(events=topics(3), dlq=topics(1), proof_gaps=topics(1))
    local = settings.model_copy(
        update={
            "state_dir": tmp_path_factory.mktemp("pages") / "state",
            "kafka": KafkaSettings(bootstrap_servers=bootstrap, topics=names),
            "processors": settings.processors.model_copy(
                update={
                    "web_port": free_port(),
                    "projections": ("facts", "evidence"),
                    "proof_closure": False,
                    "split": "off",
                    "group_prefix": f"pages-{names.events}",
                }
            ),
        }
    )
    token = "pages-" + os.urandom(12).hex()
    with_token = local.model_copy(
        update={"processors": local.processors.model_copy(update={"api_token": SecretStr(token)})}
    )
    client = WorkerClient(with_token)
    worker = WorkerProcess(local, {**os.environ, "PROOFSTREAM_PROCESSORS__API_TOKEN": token})
    worker.start(probe=client.available)
    workload = simulate(runs=6, seed=7)
    proven = workload.merged_prs[0]
    try:
        with EventProducer(local.kafka, local.producer) as producer:
            producer.emit_many([*workload.events, _hostile_pr(workload)])
            template = next(e for e in workload.events if e.event_type == "evidence.recorded")
            stored = record_evidence(
                ArtifactStore.open(local.chronicle, local.state_dir),
                producer,
                hashlib.sha256(proven.encode()).digest() * 64,
                kind=EvidenceKind.BROWSER_PROOF,
                proves=proven,
                media_type="image/png",
                source=template.producer,
                actor=template.actor,
                subject=template.subject,
            )

        def caught_up() -> bool:
            report = collect_status(with_token, ["facts", "evidence"], open_stores=False)
            return all(p["lag"] == 0 for p in report["projections"].values())

        wait_until(caught_up, timeout=120, interval=0.5, what="facts and evidence caught up")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        yield Pipeline(
            local,
            token,
            worker,
            workload,
            proven,
            workload.prs_without_browser_proof[0],
            stored.sha256,
            topics,
        )
    finally:
        worker.stop()
        topics.cleanup()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser_session() as browser:
        yield browser


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _served(pipeline: Pipeline, chromium: Browser, path: str, shot: str) -> Any:
    page = chromium.open(pipeline.base + path, token=pipeline.token)
    page.screenshot(ARTIFACTS / f"{shot}.png")
    return page


def test_the_chain_of_a_proven_pr_is_drawn_with_green_marks(
    pipeline: Pipeline, chromium: Browser
) -> None:
    page = _served(pipeline, chromium, pr_path(pipeline.proven_pr), "served-pr-proven")
    texts = page.svg_texts("#chain")
    for expected in (
        "issue #100 Change 0",
        "run-0000 started",
        "planner → backend",
        "ws-0 leased",
        "br-0 leased",
        "PR #200 opened",
        "review: approved",
    ):
        assert expected in texts, (expected, texts)
    assert any(t.startswith("merged ") for t in texts)
    assert {"issue", "run", "handoff", "tool", "pull request", "evidence"} <= set(texts)
    marks = page.svg_text_fills("#chain", "browser_proof ✓ verified")
    assert marks == [GREEN, GREEN], marks  # the simulated proof and the stored artifact
    assert page.text("#verdict") == "2 of 2 evidence artifacts verified in the log"
    drawn = page.evaluate("proofPage.charts.chain.getOption().series[0].data.length")
    assert drawn == page.evaluate("proofPage.data.nodes.length") >= 18
    # the proof on demand: clicking the evidence mark opens its inclusion proof
    page.click_svg_text("#chain", "browser_proof ✓ verified", last=True)
    opened = page.evaluate(
        "[...document.querySelectorAll('details[data-event]')].filter(d => d.open)"
        ".map(d => d.innerText)"
    )
    assert len(opened) == 1 and "audit path" in opened[0] and pipeline.stored_sha in opened[0]
    assert "artifact\nverified" in opened[0] or "artifact\tverified" in opened[0]
    page.screenshot(ARTIFACTS / "served-pr-proof-open.png")
    page.assert_clean()


def test_a_pr_merged_without_proof_shows_its_gap(pipeline: Pipeline, chromium: Browser) -> None:
    page = _served(pipeline, chromium, pr_path(pipeline.gap_pr), "served-pr-gap")
    assert page.visible("#proof-gap")
    assert page.text("#verdict") == "PROOF GAP: merged without browser proof"
    assert page.svg_text_fills("#chain", "proof gap: no browser proof") == [RED]
    assert "browser_proof ✓ verified" not in page.svg_texts("#chain")
    page.assert_clean()


def test_the_run_page_and_the_overview_are_charts(pipeline: Pipeline, chromium: Browser) -> None:
    run = _served(pipeline, chromium, run_path("run-0000"), "served-run")
    assert run.drawn() == 3
    assert {"ws-0", "br-0", "run-0000"} <= set(run.svg_texts("#gantt"))
    calls = run.evaluate("proofPage.data.calls.length")
    assert (
        calls >= 3
        and run.evaluate("proofPage.charts.tools.getOption().series[0].data.length") == calls
    )
    run.assert_clean()
    overview = _served(pipeline, chromium, "/pages/", "served-overview")
    assert overview.drawn() == 4
    assert {"facts", "evidence"} <= set(overview.svg_texts("#lag"))
    assert any("/" in t for t in overview.svg_texts("#latency"))  # server/tool rows
    assert {"acme", "fractalops"} <= set(overview.svg_texts("#coverage"))
    gaps = len(pipeline.workload.prs_without_browser_proof)
    merges = "merge" if gaps == 1 else "merges"
    assert overview.text("#verdict") == f"{gaps} {merges} without browser proof"
    listed = overview.evaluate(
        "[...document.querySelectorAll('#unproven-list a')].map(a => a.textContent)"
    )
    assert set(listed) == set(pipeline.workload.prs_without_browser_proof)
    overview.assert_clean()


def test_a_hostile_title_stays_text(pipeline: Pipeline, chromium: Browser) -> None:
    page = _served(pipeline, chromium, pr_path(HOSTILE_PR), "served-pr-hostile")
    assert page.text("p.title") == HOSTILE
    # show the tooltip of the PR node, which ECharts renders as HTML
    index = page.evaluate(
        "proofPage.data.nodes.findIndex(n => n.type === 'pr.opened'"
        " && n.detail.some(kv => kv[0] === 'pr_ref' && kv[1] === 'fractalops/portal#666'))"
    )
    assert index >= 0
    show = "{type: 'showTip', seriesIndex: 0, dataIndex: " + str(int(index)) + "}"
    page.evaluate(f"proofPage.charts.chain.dispatchAction({show})")
    tip = page.wait_text("div.tip")
    assert "onerror=alert(2)>" in tip and "</script>" in tip
    assert (
        page.evaluate("document.querySelectorAll('img, main script, div.tip script').length") == 0
    )
    page.assert_clean()  # no dialog, no CSP violation, no error


def test_the_pages_need_the_token(pipeline: Pipeline, chromium: Browser) -> None:
    assert chromium.status(pipeline.base + "/pages/", token=None) == 401
    assert chromium.status(pipeline.base + "/pages/assets/pages.js", token="wrong") == 401
    assert chromium.status(pipeline.base + "/pages/assets/pages.js", token=pipeline.token) == 200


def _report(pipeline: Pipeline, out: Path, *args: str) -> None:
    pipeline.worker.stop()  # the report opens the stores itself: no worker may hold them
    env = {**os.environ, **settings_env(pipeline.settings)}
    done = subprocess.run(
        [sys.executable, "-m", "proofstream", "report", *args, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"wrote {out}" in " ".join(done.stdout.split())


def test_a_report_file_works_offline(pipeline: Pipeline, chromium: Browser) -> None:
    out = ARTIFACTS / "report-pr-proven.html"
    _report(pipeline, out, "--pr", pipeline.proven_pr)
    page = chromium.open(out.as_uri(), offline=True)
    page.screenshot(ARTIFACTS / "report-pr-proven.png")
    assert page.svg_text_fills("#chain", "browser_proof ✓ verified") == [GREEN, GREEN]
    assert page.requests_refused == []  # nothing but the file itself was asked for
    page.assert_clean()
    run_out = ARTIFACTS / "report-run.html"
    _report(pipeline, run_out, "--run", "run-0000")
    run = chromium.open(run_out.as_uri(), offline=True)
    assert run.drawn() == 3 and run.requests_refused == []


def test_a_tampered_ledger_turns_the_mark_red(pipeline: Pipeline, chromium: Browser) -> None:
    log = pipeline.settings.chronicle.resolve_root(pipeline.settings.state_dir)
    needle = pipeline.stored_sha.encode()
    forged = needle[:-1] + (b"1" if needle.endswith(b"0") else b"0")
    tampered = 0
    for bundle in (p for p in (log / "tile" / "entries").rglob("*") if p.is_file()):
        if needle in bundle.read_bytes():  # every published copy of the leaf's bundle
            entries = [e.replace(needle, forged) for e in decode_bundle(bundle.read_bytes())]
            os.chmod(bundle, 0o644)
            bundle.write_bytes(encode_bundle(entries))
            tampered += 1
    assert tampered
    out = ARTIFACTS / "report-pr-tampered.html"
    _report(pipeline, out, "--pr", pipeline.proven_pr)
    page = chromium.open(out.as_uri(), offline=True)
    page.screenshot(ARTIFACTS / "report-pr-tampered.png")
    assert page.svg_text_fills("#chain", "browser_proof ✗ failed") == [RED]
    assert page.svg_text_fills("#chain", "browser_proof ✓ verified") == [GREEN]  # the other
    assert page.text("#verdict") == "only 1 of 2 evidence artifacts verified in the log"
    reasons = page.evaluate(
        "[...document.querySelectorAll('details.mark-failed .reason')].map(p => p.textContent)"
    )
    assert len(reasons) == 1 and "INCLUSION PROOF FAILED" in reasons[0]
    page.assert_clean()
