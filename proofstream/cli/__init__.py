"""The ``proofstream`` command line: the user-facing contract.

``main()`` is the composition root. It builds the one :class:`Settings` object
(environment + secrets directory) and hands it to every command through the
Typer context. Commands translate :class:`ProofstreamError` into a one-line
message and exit code 2; they never print a stack trace for an expected failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from pydantic import ValidationError

from producers import check_credentials
from proofstream.cli import (
    archive,
    catalog,
    demo,
    dlq,
    events,
    evidence,
    kafka,
    pipeline,
    replay,
    report,
    schemas,
)
from proofstream.cli.common import configure_logging, console_error
from proofstream.settings import Settings
from proofstream.telemetry import configure_telemetry
from schemas.errors import ProofstreamError

__all__ = ["KAFKA_COMMANDS", "app", "build_settings", "main"]

DEFAULT_SECRETS_DIR = Path("/run/secrets/proofstream")

app = typer.Typer(
    name="proofstream",
    help="FractalOps event pipeline: agent actions on Kafka, fanned out into proof projections.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
KAFKA_COMMANDS = frozenset({"demo", "emit", "tail", "run", "status", "replay", "archive", "dlq"})
"""Commands that talk to the configured Kafka cluster: their credentials are checked
first, so a refused password or an untrusted certificate ends them in about a
second with one line and exit code 2, whatever client they use underneath."""


@app.callback()
def _check_kafka_credentials(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand in KAFKA_COMMANDS and isinstance(ctx.obj, Settings):
        check_credentials(ctx.obj.kafka)  # free for PLAINTEXT


app.add_typer(kafka.app, name="kafka")
app.add_typer(schemas.app, name="schemas")
app.add_typer(replay.app, name="replay")
app.add_typer(archive.app, name="archive")
app.add_typer(dlq.app, name="dlq")
app.add_typer(evidence.app, name="evidence")
app.add_typer(catalog.app, name="catalog")
app.command(name="demo")(demo.demo)
app.command(name="emit")(events.emit)
app.command(name="tail")(events.tail)
app.command(name="run")(pipeline.run)
app.command(name="query")(pipeline.query)
app.command(name="status")(pipeline.status)
app.command(name="report")(report.report)


def build_settings() -> Settings:
    """Read ``PROOFSTREAM_*`` and the secrets directory once. Only ``main`` calls this."""
    secrets = Path(os.environ.get("PROOFSTREAM_SECRETS_DIR", str(DEFAULT_SECRETS_DIR)))
    if secrets.is_dir():
        return Settings(_secrets_dir=secrets)
    return Settings()


def main() -> None:
    """Entry point of the ``proofstream`` script: build ``Settings``, run the command."""
    try:
        settings = build_settings()
    except ValidationError as exc:
        console_error(f"invalid configuration: {exc}")
        raise SystemExit(2) from exc
    configure_logging(settings.log_level)
    configure_telemetry(os.environ)
    # DataHub's client writes a telemetry id under ~/.datahub when its modules are
    # first imported (inside the catalog sink), unless this is set beforehand; the
    # sink also calls suppress_telemetry(), so nothing is ever sent.
    os.environ.setdefault("DATAHUB_TELEMETRY_ENABLED", "false")
    try:
        app(obj=settings)
    except ProofstreamError as exc:
        console_error(str(exc))
        raise SystemExit(2) from exc
