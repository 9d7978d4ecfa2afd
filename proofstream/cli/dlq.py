"""``proofstream dlq``: inspect and redrive the dead-letter queue."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from proofstream.cli.common import console, settings_of
from replay.redrive import list_dead_letters, redrive
from schemas.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(help="Inspect and redrive the dead-letter queue.", no_args_is_help=True)


@app.command(name="list")
def dlq_list(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Count the dead letters by error type and projection (``*``: the decode step's,
    which no projection may apply)."""
    counts = list_dead_letters(settings_of(ctx).kafka)
    if json_out:
        rows = [
            {"error": error, "projection": projection, "count": n}
            for (error, projection), n in sorted(counts.items())
        ]
        typer.echo(orjson.dumps({"total": sum(counts.values()), "letters": rows}).decode())
        return
    table = Table("error", "projection", "count")
    for (error, projection), n in sorted(counts.items()):
        table.add_row(error, projection, str(n))
    console.print(table)


@app.command(name="redrive")
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
