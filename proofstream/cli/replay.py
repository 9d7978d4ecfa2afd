"""``proofstream replay | archive | dlq``: rebuild, verify and swap projections,
archive the log, redrive dead letters.

Handover with the live worker: chDB lets one process open a data directory, so a
rebuild of an embedded store cannot run while ``proofstream run`` owns it. The
commands refuse (exit 2, with what to do) when the worker of this state dir
answers. Procedure: stop the worker, ``replay rebuild facts --swap``, start the
worker again. The swap records the live watermark at the rebuild's high offsets;
the worker resumes from its committed group offsets, so records between those
and the high offsets are applied again on top — a no-op, since the sink is
idempotent (same ``event_id`` and ``ingest_version`` collapse; an older
projection version loses to the newer one) — and everything after them is new.

Every projection is rebuildable (``_rebuildable`` maps an open live sink to its
:class:`~sinks.generations.Rebuildable`): ``facts`` in shadow tables swapped with
``EXCHANGE TABLES``; ``identity``, ``catalog``, ``evidence`` and ``lineage`` in a
store per generation under ``<plane dir>/generations/g<N>/``, swapped by replacing
the ``current`` pointer their sinks' ``open`` follows (``sinks.directories``).
Identity and catalog stores cannot be restricted to a log range: their live
digest is marked *not comparable* unless live applied exactly the rebuilt range.
An evidence swap is refused when the rebuilt ledger does not extend live's signed
tree heads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table

from proofstream.cli.common import console, console_error, settings_of
from proofstream.planes import plane
from proofstream.settings import Settings
from proofstream.worker_client import WorkerClient
from replay.rebuild import Progress, RebuildResult, StartFrom, plan_rebuild, rebuild
from replay.redrive import list_dead_letters, redrive
from replay.source import log_extents, read_kafka, replay_consumer
from schemas.codec import EventCodec
from schemas.errors import ConfigError
from sinks.archive.projection import ArchiveProjection
from sinks.archive.reader import verify_archive
from sinks.archive.store import ArchiveStore
from sinks.base import Batch, LogRecord, Projection, high_offsets
from sinks.generations import GenerationStatus, Rebuildable

__all__ = ["app", "archive_app", "dlq_app"]

app = typer.Typer(
    help="Rebuild a projection from the log, verify it, swap it in.", no_args_is_help=True
)
archive_app = typer.Typer(
    help="The archived log (hash-chained Avro segments).", no_args_is_help=True
)
dlq_app = typer.Typer(help="Inspect and redrive the dead-letter queue.", no_args_is_help=True)


def _archive_root(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "archive"


def _refuse_if_worker(settings: Settings) -> None:
    if WorkerClient(settings).available():
        raise ConfigError(
            "a worker is running for this state dir and owns the embedded store; stop it"
            " (SIGTERM), run the replay command, then start `proofstream run` again — it"
            " resumes after the swapped-in generation's offsets"
        )


@contextlib.contextmanager
def _generations(
    settings: Settings, projection: str
) -> Iterator[tuple[Rebuildable, Projection[Any]]]:
    """The plane's generations and projection, its live store open for the duration."""
    _refuse_if_worker(settings)
    chosen = plane(projection, settings, EventCodec())
    if chosen.generations is None:
        raise ConfigError(f"{projection} is not rebuilt by replay (it is the log itself)")
    store = chosen.open_store()
    try:
        yield chosen.generations(store), chosen.projection
    finally:
        store.close()


def _start(from_time: str | None, from_archive: bool) -> tuple[StartFrom, int | None]:
    if from_time and from_archive:
        raise ConfigError("choose one of --from-beginning, --from-time, --from-archive")
    if from_archive:
        return StartFrom.ARCHIVE, None
    if from_time:
        ms = (
            int(from_time)
            if from_time.isdigit()
            else int(datetime.fromisoformat(from_time).timestamp() * 1000)
        )
        return StartFrom.TIME, ms
    return StartFrom.BEGINNING, None


def _run(
    settings: Settings,
    projection: str,
    start: StartFrom,
    from_time_ms: int | None,
    *,
    swap: bool,
    dry_run: bool,
) -> RebuildResult | None:
    plan = plan_rebuild(
        settings.kafka, start, from_time_ms=from_time_ms, archive_root=_archive_root(settings)
    )
    spans = ", ".join(f"{p}:{a}-{b}" for (_, p), (a, b) in sorted(plan.covered.items())) or "-"
    console.print(
        f"range of {plan.topic} (partition:first-last): {spans}  ({plan.records} offsets)",
        highlight=False,
    )
    if plan.from_archive:
        console.print(f"from the archive: {dict(plan.from_archive)}", highlight=False)
    if dry_run:
        console.print("dry run: nothing written")
        return None
    if swap and start is StartFrom.TIME:
        raise ConfigError(
            "--swap needs the whole log: a --from-time generation lacks earlier events"
        )
    with _generations(settings, projection) as (target, mapping), _progress() as report:
        result = rebuild(
            target,
            plan,
            kafka=settings.kafka,
            projection=mapping,
            archive_root=_archive_root(settings),
            swap=swap,
            progress=report,
        )
    _print_result(result)
    return result


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[Progress], None]]:
    columns = (
        TextColumn("[bold]rebuild"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>10.0f} ev/s  lag {task.fields[lag]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("rebuild", total=None, rate=0.0, lag=0)

        def report(p: Progress) -> None:
            bar.update(task, completed=p.read, total=p.total, rate=p.rate, lag=p.lag)

        yield report


def _print_result(result: RebuildResult) -> None:
    console.print(
        f"generation {result.generation}: {result.events} events, {result.skipped} skipped"
        f" (undecodable, already in the DLQ), {result.seconds:.1f} s"
        f" ({result.events / max(result.seconds, 1e-9):,.0f} ev/s)",
        highlight=False,
    )
    console.print(f"digest  {result.digest.value}", highlight=False)
    if result.digest.note:
        console.print(f"        ({result.digest.note})", highlight=False)
    live = result.live_digest
    if live is not None:
        console.print(f"live    {live.value}", highlight=False)
    if live is not None and not live.comparable:
        console.print(f"[yellow]not comparable[/yellow]: {live.note}", highlight=False)
    else:
        console.print(
            "[green]equal[/green]: live == fold(log)" if result.equal else "[red]differ[/red]"
        )
    if result.diffs:
        table = Table("table", "added", "removed", "changed", "sample keys")
        for d in result.diffs:
            table.add_row(d.table, str(d.added), str(d.removed), str(d.changed), " ".join(d.sample))
        console.print(table)
    if result.swapped:
        console.print(f"swapped: generation {result.generation} is live")


def rebuild_cmd(  # noqa: PLR0917 - one parameter per CLI option
    ctx: typer.Context,
    projection: Annotated[
        str, typer.Argument(help="Projection name: facts, identity, catalog, evidence or lineage.")
    ],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="From the log start (default).")
    ] = False,
    from_time: Annotated[
        str | None, typer.Option("--from-time", help="ISO time or epoch ms (verify only, no swap).")
    ] = None,
    from_archive: Annotated[
        bool, typer.Option("--from-archive", help="Archived segments, then Kafka for the tail.")
    ] = False,
    swap: Annotated[
        bool, typer.Option("--swap", help="Make the new generation live (EXCHANGE TABLES).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only print the range that would be rebuilt.")
    ] = False,
) -> None:
    """Rebuild PROJECTION into a shadow generation up to the high watermarks taken now;
    digest it, compare with live over the same positions, optionally swap it in."""
    del from_beginning  # the default; accepted for explicitness
    start, ms = _start(from_time, from_archive)
    _run(settings_of(ctx), projection, start, ms, swap=swap, dry_run=dry_run)


def verify_cmd(
    ctx: typer.Context,
    projection: Annotated[
        str, typer.Argument(help="Projection name: facts, identity, catalog, evidence or lineage.")
    ],
    from_archive: Annotated[
        bool, typer.Option("--from-archive", help="Archived segments, then Kafka.")
    ] = False,
) -> None:
    """Prove live == fold(log): rebuild into a shadow, compare digests, never swap.
    Exit 0 when equal, 1 with a per-table diff when they differ."""
    start, ms = _start(None, from_archive)
    result = _run(settings_of(ctx), projection, start, ms, swap=False, dry_run=False)
    if result is None or not result.equal:
        raise typer.Exit(1)


def generations_cmd(
    ctx: typer.Context, projection: Annotated[str, typer.Argument(help="Projection name.")]
) -> None:
    """List the generations of PROJECTION: status, range, digest, projection version."""
    with _generations(settings_of(ctx), projection) as (target, _mapping):
        table = Table("gen", "status", "version", "covered", "digest", "run id")
        for g in target.generations():
            covered = " ".join(f"{p}:{a}-{b}" for (_, p), (a, b) in sorted(g.covered.items()))
            run = str(g.lineage.get("run", {}).get("runId", ""))
            table.add_row(
                str(g.number),
                g.status.value,
                str(g.projection_version),
                covered,
                g.digest[:16],
                run,
            )
        console.print(table)


def gc_cmd(
    ctx: typer.Context, projection: Annotated[str, typer.Argument(help="Projection name.")]
) -> None:
    """Drop the data of every old, built-but-not-swapped and failed generation."""
    keep = {GenerationStatus.LIVE, GenerationStatus.DROPPED, GenerationStatus.BUILDING}
    with _generations(settings_of(ctx), projection) as (target, _mapping):
        for g in target.generations():
            if g.status not in keep:
                target.drop(g.number)
                console.print(f"dropped generation {g.number} ({g.status.value})")


app.command(name="rebuild")(rebuild_cmd)
app.command(name="verify")(verify_cmd)
app.command(name="generations")(generations_cmd)
app.command(name="gc")(gc_cmd)


@archive_app.command(name="sync")
def archive_sync(
    ctx: typer.Context,
    seal_all: Annotated[
        bool, typer.Option("--seal/--no-seal", help="Seal the open tails at the end.")
    ] = True,
) -> None:
    """Copy the events topic up to its current high watermarks into the archive
    (idempotent: archived offsets are skipped), then seal the open segments."""
    settings = settings_of(ctx)
    store = ArchiveStore(_archive_root(settings))
    projection = ArchiveProjection()
    topic = settings.kafka.topics.events
    consumer = replay_consumer(settings.kafka, "archive")
    try:
        marks = store.watermark()
        covered = {
            (topic, p): (max(e.low, marks.get((topic, p), -1) + 1), e.high - 1)
            for p, e in log_extents(consumer, topic).items()
        }
        copied = 0
        for chunk in read_kafka(consumer, covered):
            batch = Batch(raw=chunk, upto=_highs(chunk))
            store.write(projection.project(batch), batch.upto)
            copied += len(chunk)
            store.flush()
        if seal_all:
            store.seal()
    finally:
        consumer.close()
        store.close()
    console.print(f"archived {copied} records into {store.root}")


@archive_app.command(name="verify")
def archive_verify(ctx: typer.Context) -> None:
    """Check the hash chain, segment hashes and offset continuity; exit 1 naming the
    broken segment."""
    root = _archive_root(settings_of(ctx))
    problems = verify_archive(root)
    for problem in problems:
        console_error(f"{problem.segment}: {problem.problem}")
    if problems:
        raise typer.Exit(1)
    console.print(f"archive {root}: intact")


@dlq_app.command(name="list")
def dlq_list(ctx: typer.Context) -> None:
    """Count the dead letters by error type and projection."""
    counts = list_dead_letters(settings_of(ctx).kafka)
    table = Table("error", "projection", "count")
    for (error, projection), n in sorted(counts.items()):
        table.add_row(error, projection, str(n))
    console.print(table)


@dlq_app.command(name="redrive")
def dlq_redrive(
    ctx: typer.Context,
    projection: Annotated[
        str | None, typer.Option("--projection", help="Only this projection's letters.")
    ] = None,
    filter_: Annotated[
        str | None, typer.Option("--filter", help="error=<ErrorType>, e.g. error=DecodeError.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be redriven.")
    ] = False,
) -> None:
    """Re-feed dead letters' original bytes onto their source topic, once each."""
    settings = settings_of(ctx)
    error = None
    if filter_:
        name, _, value = filter_.partition("=")
        if name != "error" or not value:
            raise ConfigError("--filter takes error=<ErrorType>")
        error = value
    report = redrive(
        settings.kafka,
        settings.state_dir.resolve(),
        projection=projection,
        error=error,
        dry_run=dry_run,
    )
    console.print(
        f"matched {report.matched}, redriven {report.redriven}, already redriven {report.already}"
        f" {report.by_error}",
        highlight=False,
    )
    if report.report_path is not None:
        console.print(
            f"evidence {report.report_path} sha256 {report.report_sha256}", highlight=False
        )


def _highs(records: Sequence[LogRecord]) -> dict[tuple[str, int], int]:
    return high_offsets(r.position for r in records)
