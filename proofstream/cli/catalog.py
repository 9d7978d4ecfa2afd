"""``proofstream catalog``: the DataHub catalog plane on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from proofstream.cli.common import console, settings_of

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
    from sinks.catalog.export import export_lite, lite_path
    from sinks.catalog.store import open_lite

    settings = settings_of(ctx)
    lite = open_lite(lite_path(settings.datahub, settings.state_dir), read_only=True)
    try:
        count = export_lite(lite, out)
    finally:
        lite.close()
    console.print(f"exported {count} aspects to {out}")


@app.command()
def reindex(ctx: typer.Context) -> None:
    """Rebuild DataHub Lite's browse index (what ``datahub lite ls`` walks) with Lite's
    own ``reindex``.

    The worker does not rebuild it when it stops (Lite's ``close()`` would, over the
    whole store). Takes the store's write lock while it runs: a running worker waits.
    Exit code 2 when the store does not exist yet.
    """
    from schemas.errors import SinkUnavailableError
    from sinks.catalog.export import lite_path
    from sinks.catalog.store import reindex as rebuild

    settings = settings_of(ctx)
    path = lite_path(settings.datahub, settings.state_dir)
    if not path.is_file():
        raise SinkUnavailableError("catalog", f"no DataHub Lite store at {path}")
    rebuild(path)
    console.print(f"rebuilt the browse index of {path}")
