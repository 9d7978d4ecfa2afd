"""``proofstream kafka up | down | status``: local brokers from the official jars.

Three shapes, all on loopback, each under its own directory of the state dir:

- the single node (default, ``<state_dir>/kafka``): the demo and most tests;
- ``--nodes 3``: a cluster of combined broker+controller nodes
  (``<state_dir>/kafka-cluster``), project topics with replication 3 and
  ``min.insync.replicas=2``;
- ``--secure``: one node behind SASL_SSL with SCRAM-SHA-512 users and a local CA
  (``<state_dir>/kafka-secure``).

``up`` is idempotent, ``down`` stops every one of them this state dir started (and
nothing else), ``status`` reports one of them (see its help for the exit codes).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import typer
from rich.table import Table

from producers.topics import ensure_topics
from proofstream.cli.common import console, settings_of
from proofstream.devstack.cluster import MIN_INSYNC_REPLICAS, REPLICATION_FACTOR, KafkaCluster
from proofstream.devstack.kafka import KafkaLauncher
from proofstream.devstack.report import cluster_report
from proofstream.devstack.secure import SecureKafkaLauncher
from proofstream.settings import Settings
from schemas.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(
    help="Run real Apache Kafka brokers (KRaft) from the official jars: one node, a "
    "--nodes 3 cluster, or a --secure SASL_SSL node.",
    no_args_is_help=True,
)

_NODES = typer.Option(
    None, "--nodes", min=1, help="Number of nodes: 1 (default) or 3+ for a local cluster."
)
_SECURE = typer.Option(
    False, "--secure", help="One node with a SASL_SSL listener (SCRAM-SHA-512, local CA)."
)


def _requested(nodes: int | None, secure: bool) -> str | None:
    """The shape the options ask for, or ``None`` when they leave it open."""
    if secure and nodes not in (None, 1):
        raise ConfigError("--secure runs a single node; a secure cluster is not supported yet")
    if secure:
        return "secure"
    if nodes is None:
        return None
    return "single" if nodes == 1 else "cluster"


def _running_mode(settings: Settings) -> str:
    """The shape to report when no option says: the cluster if one of its nodes runs,
    else the secure node if it runs, else the single node."""
    cluster = KafkaCluster(settings.broker, settings.state_dir)
    if cluster.exists() and any(p.running for p in cluster.processes()):
        return "cluster"
    if SecureKafkaLauncher(settings.broker, settings.state_dir).status().running:
        return "secure"
    return "single"


@app.command()
def up(ctx: typer.Context, nodes: int | None = _NODES, secure: bool = _SECURE) -> None:
    """Fetch the jars once, format storage, start the broker(s) and wait until they serve.

    Idempotent: running brokers are reported and left alone. With --nodes 3 the
    project's topics are created with replication 3 and min.insync.replicas=2. With
    --secure the client settings are printed (the password stays in its file).
    """
    settings = settings_of(ctx)
    mode = _requested(nodes, secure) or "single"
    started_at = time.monotonic()
    if mode == "cluster":
        assert nodes is not None
        _up_cluster(settings, nodes, started_at)
    elif mode == "secure":
        _up_secure(settings, started_at)
    else:
        status, started = KafkaLauncher(settings.broker, settings.state_dir).up()
        verb = "is up" if started else "is already running"
        took = f", ready in {time.monotonic() - started_at:.1f}s" if started else ""
        console.print(
            f"Kafka {status.version} {verb} at [bold]{status.bootstrap}[/bold] "
            f"(pid {status.pid}{took})"
        )
        typer.echo(f"bootstrap: {status.bootstrap}")


def _up_cluster(settings: Settings, nodes: int, started_at: float) -> None:
    cluster = KafkaCluster(settings.broker, settings.state_dir, nodes=nodes)
    if len(cluster.layout.ports) != nodes:
        raise ConfigError(
            f"{cluster.home} holds a {len(cluster.layout.ports)}-node cluster; run "
            f"`proofstream kafka down` and remove that directory to change its size"
        )
    started = cluster.up()
    bootstrap = cluster.layout.bootstrap
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    created = ensure_topics(
        kafka, replication=REPLICATION_FACTOR, min_insync_replicas=MIN_INSYNC_REPLICAS
    )
    verb = f"started nodes {started}" if started else "already running"
    console.print(
        f"Kafka {settings.broker.kafka_version} cluster of {nodes} nodes: {verb} "
        f"({time.monotonic() - started_at:.1f}s)"
    )
    if created:
        console.print(
            f"created {', '.join(created)} (replication {REPLICATION_FACTOR}, "
            f"min.insync.replicas {MIN_INSYNC_REPLICAS})",
            highlight=False,
        )
    # plain echo: lines meant for copy-paste must not be wrapped
    typer.echo(f"bootstrap: {bootstrap}")
    typer.echo(f"export PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS={bootstrap}")


def _up_secure(settings: Settings, started_at: float) -> None:
    status, started = SecureKafkaLauncher(settings.broker, settings.state_dir).up()
    verb = "is up" if started else "is already running"
    console.print(
        f"Kafka {status.version} (SASL_SSL, SCRAM-SHA-512) {verb} at "
        f"[bold]{status.bootstrap}[/bold] (pid {status.pid}, "
        f"{time.monotonic() - started_at:.1f}s)"
    )
    typer.echo("# client settings (the password is only in its file):")
    for key, value in status.client.env().items():
        typer.echo(f"export {key}={value}")
    typer.echo(f"# password file: {status.client.password_file}")


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop every broker this state directory started: the single node, the secure node
    and the cluster's nodes. Never touches anything else."""
    settings = settings_of(ctx)
    stopped = []
    if KafkaLauncher(settings.broker, settings.state_dir).down():
        stopped.append("the single node")
    if SecureKafkaLauncher(settings.broker, settings.state_dir).down():
        stopped.append("the secure node")
    nodes = KafkaCluster(settings.broker, settings.state_dir).down()
    if nodes:
        stopped.append(f"cluster nodes {sorted(nodes)}")
    if stopped:
        console.print(f"Kafka stopped: {', '.join(stopped)}.")
    else:
        console.print("Kafka is not running (nothing this launcher started).")


@app.command()
def status(
    ctx: typer.Context,
    nodes: int | None = _NODES,
    secure: bool = _SECURE,
    json_out: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Report a broker: the cluster when one runs (or with --nodes), the secure node
    (--secure, or when it is the one running), else the single node.

    Single and secure node: running/stopped, pid, bootstrap, version; exit 0 when
    running, 1 when stopped. Cluster: each node's process and state, the KRaft
    quorum (leader, voters, lag) and each project partition's leader and ISR; exit 0
    when every node is up and in sync, 1 when none runs, 3 when degraded.
    The JSON keys are documented in docs/kafka-ops.md.
    """
    settings = settings_of(ctx)
    mode = _requested(nodes, secure) or _running_mode(settings)
    if mode == "cluster":
        cluster = KafkaCluster(settings.broker, settings.state_dir, nodes=nodes or 3)
        report = cluster_report(cluster, settings.broker, settings.kafka)
        _print_cluster(report, json_out)
        codes = {"ok": 0, "stopped": 1}
        raise typer.Exit(codes.get(str(report["state"]), 3))
    if mode == "secure":
        st: Any = SecureKafkaLauncher(settings.broker, settings.state_dir).status()
    else:
        st = KafkaLauncher(settings.broker, settings.state_dir).status()
    if json_out:
        typer.echo(orjson.dumps(st.as_dict()).decode())
    elif st.running:
        console.print(
            f"running  pid={st.pid}  bootstrap={st.bootstrap}  version={st.version}  "
            f"log={st.log_file}",
            highlight=False,
        )
    else:
        console.print(
            f"stopped  bootstrap={st.bootstrap}  version={st.version}  "
            f"(start it with: proofstream kafka up{' --secure' if mode == 'secure' else ''})",
            highlight=False,
        )
    raise typer.Exit(0 if st.running else 1)


def _print_cluster(report: dict[str, Any], json_out: bool) -> None:
    if json_out:
        typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    console.print(
        f"cluster {report['state']}  bootstrap={report['bootstrap']}  version={report['version']}",
        highlight=False,
    )
    nodes = Table("node", "state", "pid", "broker", "controller", "out of sync")
    for node in report["nodes"]:
        nodes.add_row(
            str(node["id"]),
            node["state"],
            str(node["pid"] or "-"),
            node["bootstrap"],
            node["controller"],
            ", ".join(node["out_of_sync"]) or "-",
        )
    console.print(nodes)
    quorum = report.get("quorum")
    if quorum:
        if quorum["error"]:
            console.print(f"quorum: unknown ({quorum['error']})", highlight=False)
        else:
            lags = " ".join(f"{r['id']}:{r['lag']}" for r in quorum["replicas"])
            console.print(
                f"quorum: leader {quorum['leader']}  voters {quorum['voters']}  "
                f"observers {quorum['observers']}  lag {lags}",
                highlight=False,
            )
    health = report.get("health") or {}
    if "error" in health:
        console.print(f"partitions: unknown ({health['error']})", highlight=False)
        return
    table = Table("topic", "partition", "leader", "replicas", "isr")
    for topic, entry in health.get("topics", {}).items():
        for p in entry["partitions"]:
            table.add_row(
                topic,
                str(p["partition"]),
                str(p["leader"] if p["leader"] is not None else "none"),
                ",".join(map(str, p["replicas"])),
                ",".join(map(str, p["isr"])),
            )
    if health.get("topics"):
        console.print(table)
    for key in ("under_replicated", "under_min_isr", "offline", "missing_topics"):
        if health.get(key):
            console.print(f"{key.replace('_', ' ')}: {', '.join(health[key])}", highlight=False)
