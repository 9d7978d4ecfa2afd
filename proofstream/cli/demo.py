"""``proofstream demo``: the main job, on embedded defaults, from nothing to answers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from typing import Annotated, Any

import typer
from confluent_kafka import Producer
from rich.table import Table

from producers import EventProducer, ensure_topics
from proofstream.cli.common import console, settings_of
from proofstream.demo_planes import (
    proof_gaps,
    show_catalog,
    show_identity,
    show_lineage,
    show_proof_gaps,
)
from proofstream.devstack.kafka import KafkaLauncher, broker_reachable
from proofstream.evidence import record_evidence
from proofstream.pages.serve import pages_url
from proofstream.queries import analyst_queries
from proofstream.settings import Settings, settings_env
from proofstream.status import collect_status
from proofstream.worker_client import WorkerClient
from proofstream.worker_process import WorkerProcess
from proofstream.workload import Workload, invalid_payloads, simulate
from schemas.codec import EventCodec
from schemas.envelope import Producer as ProducerIdentity
from schemas.errors import InvalidEventError, ProofstreamError
from schemas.events import EvidenceKind
from sinks.evidence.artifacts import ArtifactStore

__all__ = ["demo"]


def demo(
    ctx: typer.Context,
    runs: Annotated[int, typer.Option(help="Simulated agent runs to emit.")] = 24,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 7,
    keep_worker: Annotated[
        bool, typer.Option("--keep-worker", help="Leave the worker running afterwards.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for catch-up.")] = 180.0,
) -> None:
    """Start Kafka and the worker, emit a simulated AgentSquad/research workload (with
    some invalid events), wait until every projection caught up, print the analyst
    queries' answers.

    Kafka is left running for the test command; stop it with ``proofstream kafka down``.
    """
    settings = settings_of(ctx)
    console.rule("[bold]1. Kafka")
    bootstrap = settings.kafka.bootstrap_servers
    if broker_reachable(bootstrap):
        console.print(f"using the Kafka broker that answers at {bootstrap}")
    else:
        status, _ = KafkaLauncher(settings.broker, settings.state_dir).up()
        console.print(f"Kafka {status.version} started at {status.bootstrap}")
    ensure_topics(settings.kafka)

    console.rule("[bold]2. Worker")
    worker = None
    if WorkerClient(settings).available():
        console.print("a worker for this state dir is already running: using it")
    else:
        worker = WorkerProcess(settings, dict(os.environ))
        worker.start()
        console.print(f"worker pid {worker.pid}, log {worker.log_file}")
    try:
        workload, artifact = _emit(settings, runs, seed)
        _wait_caught_up(settings, timeout)
        _show_answers(settings)
        gaps = _wait_for_gaps(settings, workload.prs_without_browser_proof, timeout)
    finally:
        if worker is not None and not keep_worker:
            worker.stop()
            console.print("worker stopped (Kafka left running)")
    if keep_worker:
        return
    console.rule("[bold]6. The other planes (read from their stores)")
    show_proof_gaps(console, gaps, workload.prs_without_browser_proof)
    show_identity(console, settings, "run-0000", workload.merged_prs[0])
    show_catalog(console, settings)
    show_lineage(console, settings)
    console.rule("[bold]7. Chronicle: the inclusion proof of a stored artifact")
    _cli(settings, "evidence", "verify", artifact)
    console.rule("[bold]8. Replay: live == fold(log)")
    _cli(settings, "replay", "verify", "facts")
    console.rule("[bold]9. Proof pages")
    pr = workload.merged_prs[0]
    report = (
        settings.state_dir.resolve()
        / "reports"
        / f"pr-{pr.replace('/', '-').replace('#', '-')}.html"
    )
    _cli(settings, "report", "--pr", pr, "--out", str(report))
    console.print(f"overview page: {pages_url(settings)} (served while `proofstream run` runs)")
    console.print(f"report of {pr}: {report} (one file, works offline)", soft_wrap=True)


def _emit(settings: Settings, runs: int, seed: int) -> tuple[Workload, str]:
    """Emit the workload; returns it and the digest of one artifact stored in Chronicle."""
    console.rule("[bold]3. Emit")
    workload = simulate(runs=runs, seed=seed)
    with EventProducer(settings.kafka, settings.producer) as producer:
        deliveries = producer.emit_many(workload.events)
        pr = workload.merged_prs[0]
        screenshot = hashlib.sha256(f"{seed}/{pr}".encode()).digest() * 64  # stand-in PNG bytes
        template = next(e for e in workload.events if e.event_type == "evidence.recorded")
        evidence = record_evidence(
            ArtifactStore.open(settings.chronicle, settings.state_dir),
            producer,
            screenshot,
            kind=EvidenceKind.BROWSER_PROOF,
            proves=pr,
            media_type="image/png",
            source=template.producer,
            actor=template.actor,
            subject=template.subject,
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"proofstream-demo/{seed}/{pr}"),
        )
    console.print(f"claim check: stored a browser proof in Chronicle, sha256 {evidence.sha256}")
    partitions = sorted({d.partition for d in deliveries if d.partition is not None})
    console.print(
        f"{len(deliveries)} events acknowledged (idempotent, acks=all) on partitions "
        f"{partitions}; {len(workload.merged_prs)} PRs merged, "
        f"{len(workload.prs_without_browser_proof)} without browser proof"
    )
    try:  # the producer refuses what the seed forbids, before anything is sent
        ProducerIdentity(service="legacy", version="0", workload_id="10.0.0.7")
    except InvalidEventError as exc:
        console.print(f"rejected at construction, as the seed demands: [yellow]{exc}[/yellow]")
    raw = Producer({**settings.kafka.client_config(), "acks": "all"})
    bad = list(invalid_payloads())
    for payload in bad:
        raw.produce(settings.kafka.topics.events, key=b"misbehaving-client", value=payload)
    raw.flush(30)
    console.print(f"{len(bad)} undecodable records written by a misbehaving client (→ DLQ)")
    return workload, evidence.sha256


def _wait_for_gaps(settings: Settings, expected: tuple[str, ...], timeout: float) -> list[Any]:
    console.rule("[bold]5b. Proof closure")
    codec = EventCodec()
    started = time.monotonic()
    while True:
        gaps = proof_gaps(settings, codec, timeout_s=1.0)
        found = {g.pr_ref for g in gaps if g.event_type == "proof.gap.detected"}
        if set(expected) <= found or time.monotonic() - started > timeout:
            console.print(f"{len(found & set(expected))}/{len(expected)} expected gaps detected")
            return gaps
        time.sleep(1.0)


def _cli(settings: Settings, *args: str) -> None:
    """Run a proofstream command as an operator would, with the same settings."""
    env = {**os.environ, **settings_env(settings)}
    code = subprocess.run([sys.executable, "-m", "proofstream", *args], env=env, check=False)
    if code.returncode != 0:
        raise ProofstreamError(f"proofstream {' '.join(args)} exited {code.returncode}")


def _wait_caught_up(settings: Settings, timeout: float) -> dict[str, Any]:
    console.rule("[bold]4. Catch up")
    started = time.monotonic()
    names = list(settings.processors.projections)
    while True:
        report = collect_status(settings, names, open_stores=False)
        lags = {name: p["lag"] for name, p in report["projections"].items()}
        if all(lag == 0 for lag in lags.values()):
            break
        if time.monotonic() - started > timeout:
            raise ProofstreamError(f"projections did not catch up in {timeout:.0f}s: {lags}")
        time.sleep(0.5)
    table = Table("projection", "lag", "watermark", "DLQ", "health")
    for name, item in report["projections"].items():
        marks = " ".join(f"{w['partition']}:{w['offset']}" for w in item["watermark"])
        table.add_row(name, str(item["lag"]), marks, str(item["dead_letters"]), item["health"])
    console.print(f"caught up in {time.monotonic() - started:.1f}s")
    console.print(table)
    return report


def _show_answers(settings: Settings) -> None:
    console.rule("[bold]5. Analyst queries (through the worker)")
    client = WorkerClient(settings)
    for query in analyst_queries():
        answer = client.query(query.sql)
        table = Table(*answer["columns"], title=f"{query.name}: {query.question}")
        for row in answer["rows"][:12]:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
