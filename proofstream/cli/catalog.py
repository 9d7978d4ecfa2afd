"""``proofstream catalog``: the DataHub catalog plane on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from proofstream.cli.common import console, settings_of
from sinks.datahub import export_lite, lite_path, open_lite

__all__ = ["app"]

app = typer.Typer(help="The DataHub catalog of the pipeline.", no_args_is_help=True)


@app.callback()
def catalog() -> None:
    """The DataHub catalog of the pipeline."""


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="JSON file to write.")] = Path("catalog.json"),
) -> None:
    """Write every aspect of the embedded DataHub Lite store to a metadata file that
    ``datahub ingest`` loads with the ``file`` source.

    Read-only (the store may be in use by a running worker); the same store always
    exports the same file. Exit code 2 when the store does not exist yet.
    """
    settings = settings_of(ctx)
    lite = open_lite(lite_path(settings.datahub, settings.state_dir), read_only=True)
    try:
        count = export_lite(lite, out)
    finally:
        lite.close()
    console.print(f"exported {count} aspects to {out}")
