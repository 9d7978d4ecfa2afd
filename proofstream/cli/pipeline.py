"""``proofstream run | query | status``: the live pipeline and its read side."""

from __future__ import annotations

import csv
import io
import os
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from proofstream.cli.common import configure_logging, console, settings_of
from proofstream.pages.serve import pages_url
from proofstream.status import collect_status
from proofstream.worker_client import WorkerClient

__all__ = ["query", "run", "status"]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def run(
    ctx: typer.Context,
    planes: Annotated[
        str | None,
        typer.Option(
            "--planes",
            help="Comma-separated planes to run in this process (facts, archive, evidence,"
            " lineage, identity, catalog, proof-closure); default: all configured, split"
            " over two processes on a multi-core machine.",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="API port (default PROOFSTREAM_PROCESSORS__WEB_PORT)."),
    ] = None,
    loglevel: Annotated[
        str | None,
        typer.Option(help="Log level of the worker (default PROOFSTREAM_LOG_LEVEL, warning)."),
    ] = None,
    with_parent: Annotated[bool, typer.Option("--with-parent", hidden=True)] = False,
) -> None:
    """Run the live worker until SIGTERM: one consumer, every plane in its lane.

    Creates the project's topics when missing. While it runs, it owns the embedded
    stores; `proofstream query` and `status` ask it over HTTP on
    PROOFSTREAM_PROCESSORS__WEB_HOST:WEB_PORT (127.0.0.1:6066).
    """
    from processors.signals import take_stop_signals

    take_stop_signals()  # before any thread of this process starts (its docstring)
    # the worker's hosts (faust, aiohttp) load here, not for every command
    from processors.worker import run_worker
    from producers.topics import ensure_topics
    from proofstream.children import ChildWorker, exit_with_parent
    from proofstream.pipeline import build_worker, cpu_count, split_planes, worker_planes

    settings = settings_of(ctx)
    if port is not None:
        processors = settings.processors.model_copy(update={"web_port": port})
        settings = settings.model_copy(update={"processors": processors})
    level = loglevel or settings.log_level
    configure_logging(level)
    if with_parent:
        exit_with_parent()
    ensure_topics(settings.kafka)
    names = worker_planes(settings, planes.split(",") if planes else None)
    here, child = (names, ()) if planes else split_planes(names, settings.processors, cpu_count())
    web_port = settings.processors.web_port
    peers = [f"http://127.0.0.1:{web_port + 1}"] if child else []
    worker = build_worker(settings, here, peers=peers)
    services = list(worker.services)
    if child:
        services.append(ChildWorker(settings, child, web_port + 1, dict(os.environ)))
    layout = ", ".join(here) + (f" | child process: {', '.join(child)}" if child else "")
    console.print(f"worker: {layout}; API on http://{settings.processors.web_host}:{web_port}")
    run_worker(worker.web_app, services, worker.api, level, settings.processors.stop_timeout_s)


def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="One read-only statement (SELECT, WITH, SHOW, ...).")],
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, json or csv.")
    ] = OutputFormat.TABLE,
    json_out: Annotated[
        bool, typer.Option("--json", help="Same as --format json: an array of row objects.")
    ] = False,
) -> None:
    """Query the proof facts in ClickHouse.

    Goes through the running worker when there is one (chDB allows one process per
    directory), otherwise opens the store directly. Both paths enforce read-only
    SQL and return the same result.
    """
    settings = settings_of(ctx)
    client = WorkerClient(settings)
    answer = client.query(sql) if client.available() else None
    if answer is None:
        from processors.worker import jsonable
        from sinks.facts.query import FactsReader
        from sinks.facts.store import ClickHouseStore

        # no worker: open the store (its migrations make the tables), then read
        ClickHouseStore.open(settings.clickhouse, settings.state_dir).close()
        reader = FactsReader.open(settings.clickhouse, settings.state_dir)
        try:
            result = reader.query(sql)
        finally:
            reader.close()
        answer = {"columns": list(result.columns), "rows": jsonable([list(r) for r in result.rows])}
    _print_result(answer, OutputFormat.JSON if json_out else output)


def status(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """For each plane: lag, watermark per partition, DLQ count, store health; and the
    Kafka brokers that are down or out of sync (``kafka`` in --json). Asks a running
    worker first; opens the stores itself only when none runs."""
    settings = settings_of(ctx)
    report = collect_status(settings, list(settings.processors.projections))
    # the proof pages are served by a running worker (proofstream.pages.serve)
    report["pages"] = pages_url(settings) if report["worker"] == "running" else None
    if json_out:
        typer.echo(
            orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
        )
        return
    console.print(
        f"log {report['topic']}: end offsets {report['end_offsets']}  "
        f"DLQ records: {report['dlq_records']}  worker: {report['worker']}",
        highlight=False,
    )
    health = report["kafka"]
    brokers = health.get("brokers", {})
    line = (
        f"kafka: {health['state']}  brokers alive {brokers.get('alive', '?')}  "
        f"down {brokers.get('down', [])}  out of sync {sorted(brokers.get('degraded', {}))}"
    )
    if health.get("under_min_isr"):
        line += f"  under min ISR: {', '.join(health['under_min_isr'])}"
    if "error" in health:
        line += f"  ({health['error']})"
    console.print(line, highlight=False)
    table = Table("projection", "health", "lag", "watermark (partition:offset)", "DLQ")
    for name, item in report["projections"].items():
        marks = " ".join(f"{w['partition']}:{w['offset']}" for w in item["watermark"]) or "-"
        lag = "?" if item["lag"] is None else str(item["lag"])
        table.add_row(name, item["health"], lag, marks, str(item["dead_letters"]))
    console.print(table)
    if report["pages"]:
        console.print(f"proof pages: {report['pages']}", highlight=False)


def _print_result(answer: dict[str, Any], output: OutputFormat) -> None:
    columns, rows = answer["columns"], answer["rows"]
    if output is OutputFormat.JSON:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        typer.echo(orjson.dumps(records).decode())
    elif output is OutputFormat.CSV:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows(rows)
        typer.echo(buf.getvalue(), nl=False)
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
