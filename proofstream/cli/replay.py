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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
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

from proofstream.cli.archive import archive_root
from proofstream.cli.common import console, settings_of
from proofstream.planes import plane
from proofstream.settings import Settings
from proofstream.worker_client import WorkerClient
from replay.plan import RebuildPlan, StartFrom, plan_rebuild
from replay.rebuild import Progress, RebuildResult, rebuild_many
from schemas.codec import EventCodec
from schemas.errors import ConfigError
from sinks.base import Projection
from sinks.generations import Generation, GenerationStatus, LogRange, Rebuildable

__all__ = ["app"]

app = typer.Typer(
    help="Rebuild a projection from the log, verify it, swap it in.", no_args_is_help=True
)


def _refuse_if_worker(settings: Settings) -> None:
    if WorkerClient(settings).available():
        raise ConfigError(
            "a worker is running for this state dir and owns the embedded store; stop it"
            " (SIGTERM), run the replay command, then start `proofstream run` again — it"
            " resumes after the swapped-in generation's offsets"
        )


REBUILDABLE = ("facts", "identity", "catalog", "evidence", "lineage")
"""The planes replay rebuilds (the archive is the log itself), in ``all``'s order."""


def _names(argument: str) -> list[str]:
    """``all``, one plane, or a comma-separated list of planes."""
    names = list(REBUILDABLE) if argument == "all" else [n.strip() for n in argument.split(",")]
    unknown = [n for n in names if n not in REBUILDABLE]
    if unknown:
        raise ConfigError(f"not rebuilt by replay: {unknown}; choose from {', '.join(REBUILDABLE)}")
    return names


@contextlib.contextmanager
def _generations(
    settings: Settings, projection: str
) -> Iterator[tuple[Rebuildable, Projection[Any]]]:
    """The plane's generations and projection, its live store open for the duration."""
    with _all_generations(settings, [projection]) as (only,):
        yield only


@contextlib.contextmanager
def _all_generations(
    settings: Settings, names: list[str]
) -> Iterator[list[tuple[Rebuildable, Projection[Any]]]]:
    """Every named plane's generations and projection, live stores open meanwhile."""
    _refuse_if_worker(settings)
    codec = EventCodec()
    with contextlib.ExitStack() as stack:
        targets = []
        for name in names:
            chosen = plane(name, settings, codec)
            if chosen.generations is None:
                raise ConfigError(f"{name} is not rebuilt by replay here (no generations)")
            store = chosen.open_store()
            stack.callback(store.close)
            targets.append((chosen.generations(store), chosen.projection))
        yield targets


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
    json_out: bool = False,
) -> list[RebuildResult]:
    plan = plan_rebuild(
        settings.kafka, start, from_time_ms=from_time_ms, archive_root=archive_root(settings)
    )
    names = _names(projection)
    spans = ", ".join(f"{p}:{a}-{b}" for (_, p), (a, b) in sorted(plan.covered.items())) or "-"
    say = (lambda *_a, **_k: None) if json_out else console.print
    say(
        f"range of {plan.topic} (partition:first-last): {spans}  ({plan.records} offsets)",
        highlight=False,
    )
    if plan.from_archive:
        say(f"from the archive: {dict(plan.from_archive)}", highlight=False)
    if dry_run:
        say("dry run: nothing written")
        if json_out:
            typer.echo(orjson.dumps(_plan_json(plan)).decode())
        return []
    if swap and start is StartFrom.TIME:
        raise ConfigError(
            "--swap needs the whole log: a --from-time generation lacks earlier events"
        )
    with _all_generations(settings, names) as targets, _progress(json_out) as report:
        results = rebuild_many(
            targets,
            plan,
            kafka=settings.kafka,
            archive_root=archive_root(settings),
            swap=swap,
            progress=report,
        )
    if json_out:
        typer.echo(orjson.dumps({r.projection: _as_json(r) for r in results}).decode())
    else:
        for result in results:
            _print_result(result)
    return results


def _plan_json(plan: RebuildPlan) -> dict[str, Any]:
    """The documented ``--dry-run --json`` shape: the range a rebuild would read,
    ``[first, last]`` offsets per partition (string keys: it is JSON)."""

    def spans(log_range: LogRange) -> dict[str, list[int]]:
        return {str(p): [a, b] for (_, p), (a, b) in sorted(log_range.items())}

    return {
        "dry_run": True,
        "topic": plan.topic,
        "records": plan.records,
        "covered": spans(plan.covered),
        "from_archive": spans(plan.from_archive),
        "from_kafka": spans(plan.from_kafka),
    }


def _as_json(result: RebuildResult) -> dict[str, Any]:
    """The documented ``--json`` shape of one plane's rebuild (see the README)."""
    live = result.live_digest
    return {
        "generation": result.generation,
        "equal": result.equal,
        "comparable": live is None or live.comparable,
        "note": live.note if live is not None and not live.comparable else result.digest.note,
        "digest": result.digest.value,
        "live_digest": None if live is None else live.value,
        "events": result.events,
        "skipped": result.skipped,
        "seconds": round(result.seconds, 3),
        "swapped": result.swapped,
        "diffs": [
            {"table": d.table, "added": d.added, "removed": d.removed, "changed": d.changed}
            for d in result.diffs
        ],
    }


@contextlib.contextmanager
def _progress(quiet: bool = False) -> Iterator[Callable[[Progress], None]]:
    if quiet:
        yield lambda _p: None
        return
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


_PLANES_HELP = (
    "Plane(s): facts, identity, catalog, evidence, lineage, a comma-separated list, or all"
    " (one pass over the log for all of them)."
)


def rebuild_cmd(  # noqa: PLR0917 - one parameter per CLI option
    ctx: typer.Context,
    projection: Annotated[str, typer.Argument(help=_PLANES_HELP)],
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
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Rebuild PROJECTION into a shadow generation up to the high watermarks taken now;
    digest it, compare with live over the same positions, optionally swap it in."""
    del from_beginning  # the default; accepted for explicitness
    start, ms = _start(from_time, from_archive)
    _run(settings_of(ctx), projection, start, ms, swap=swap, dry_run=dry_run, json_out=json_out)


def verify_cmd(
    ctx: typer.Context,
    projection: Annotated[str, typer.Argument(help=_PLANES_HELP)],
    from_archive: Annotated[
        bool, typer.Option("--from-archive", help="Archived segments, then Kafka.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Prove live == fold(log): rebuild into a shadow, compare digests, never swap.
    Exit 0 when every plane is equal, 1 with a per-table diff when one differs or
    cannot be compared."""
    start, ms = _start(None, from_archive)
    settings = settings_of(ctx)
    results = _run(settings, projection, start, ms, swap=False, dry_run=False, json_out=json_out)
    if not results or not all(r.equal for r in results):
        raise typer.Exit(1)


def generations_cmd(
    ctx: typer.Context,
    projection: Annotated[str, typer.Argument(help="Plane name (facts, identity, ...).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the generations of PROJECTION: status, range, digest, projection version."""
    with _generations(settings_of(ctx), projection) as (target, _mapping):
        found = list(target.generations())
    if json_out:
        typer.echo(orjson.dumps([_generation_json(g) for g in found]).decode())
        return
    table = Table("gen", "status", "version", "covered", "digest", "run id", "created (UTC)")
    for g in found:
        item = _generation_json(g)
        covered = " ".join(f"{p}:{a}-{b}" for p, (a, b) in item["covered"].items())
        table.add_row(
            str(g.number),
            g.status.value,
            str(g.projection_version),
            covered,
            g.digest[:16],
            item["run_id"],
            item["created_at"],
        )
    console.print(table)


def _generation_json(g: Generation) -> dict[str, Any]:
    """The documented ``generations --json`` item; times in ISO 8601 UTC."""
    created = datetime.fromtimestamp(g.created_at_us / 1_000_000, UTC)
    return {
        "number": g.number,
        "status": g.status.value,
        "projection_version": g.projection_version,
        "covered": {str(p): [a, b] for (_, p), (a, b) in sorted(g.covered.items())},
        "digest": g.digest,
        "run_id": str(g.lineage.get("run", {}).get("runId", "")),
        "created_at": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def gc_cmd(
    ctx: typer.Context,
    projection: Annotated[str, typer.Argument(help="Plane name (facts, identity, ...).")],
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
