"""``proofstream archive``: the log copied into hash-chained Avro segments."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import orjson
import typer

from proofstream.cli.common import console, console_error, settings_of
from proofstream.settings import Settings
from replay.source import log_extents, read_kafka, replay_consumer
from sinks.archive.projection import ArchiveProjection
from sinks.archive.reader import read_manifest, verify_archive
from sinks.archive.store import ArchiveStore
from sinks.base import Batch, LogRecord, high_offsets

__all__ = ["app"]

app = typer.Typer(help="The archived log (hash-chained Avro segments).", no_args_is_help=True)


def archive_root(settings: Settings) -> Path:
    """Where the archive plane and ``archive sync`` keep the segments."""
    return settings.state_dir.resolve() / "archive"


@app.command(name="sync")
def archive_sync(
    ctx: typer.Context,
    seal_all: Annotated[
        bool, typer.Option("--seal/--no-seal", help="Seal the open tails at the end.")
    ] = True,
) -> None:
    """Copy the events topic up to its current high watermarks into the archive
    (idempotent: archived offsets are skipped), then seal the open segments."""
    settings = settings_of(ctx)
    store = ArchiveStore(archive_root(settings))
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


@app.command(name="verify")
def archive_verify(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check the hash chain, segment hashes and offset continuity; exit 1 naming the
    broken segment."""
    root = archive_root(settings_of(ctx))
    problems = verify_archive(root)
    if json_out:
        typer.echo(
            orjson.dumps(
                {
                    "root": str(root),
                    "segments": len(read_manifest(root)),
                    "intact": not problems,
                    "problems": [{"segment": p.segment, "problem": p.problem} for p in problems],
                }
            ).decode()
        )
    else:
        for problem in problems:
            console_error(f"{problem.segment}: {problem.problem}")
        if not problems:
            console.print(f"archive {root}: intact")
    if problems:
        raise typer.Exit(1)


def _highs(records: Sequence[LogRecord]) -> dict[tuple[str, int], int]:
    return high_offsets(r.position for r in records)
