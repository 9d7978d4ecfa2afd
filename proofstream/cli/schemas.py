"""``proofstream schemas``: the schema-evolution gate on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from proofstream.cli.common import console, console_error
from proofstream.schema_gate import find_problems
from proofstream.text import plural
from schemas.catalog import AVRO_ROOT

__all__ = ["app"]

app = typer.Typer(help="Check the Avro schemas kept in the repo.", no_args_is_help=True)


@app.callback()
def schemas() -> None:
    """Check the Avro schemas kept in the repo."""


@app.command()
def check(
    root: Annotated[
        Path, typer.Option(help="Schema root holding v<N>/*.avsc and RELEASED.json.")
    ] = AVRO_ROOT,
) -> None:
    """Prove every version reads every earlier one (Apache avro checker); exit 1 if not.

    Read-only and idempotent. Each problem is printed on its own line, naming the
    schema file and the offending field.
    """
    problems, report = find_problems(root)
    for problem in problems:
        console_error(str(problem))
    if problems:
        raise typer.Exit(1)
    console.print(
        f"schemas ok: {plural(report.event_types, 'event type')}, "
        f"{plural(report.pairs_checked, 'version pair')} compatible, "
        f"{plural(report.upcast_steps, 'pair')} bridged by upcasters, "
        f"{plural(report.released_files, 'released file')} unchanged"
    )
