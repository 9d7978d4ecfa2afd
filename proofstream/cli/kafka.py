"""``proofstream kafka up | down | status``: the local single-node broker."""

from __future__ import annotations

import time

import orjson
import typer

from proofstream.cli.common import console, settings_of
from proofstream.devstack.kafka import KafkaLauncher

__all__ = ["app"]

app = typer.Typer(
    help="Run a real Apache Kafka broker (KRaft, single node) from the official jars.",
    no_args_is_help=True,
)


def _launcher(ctx: typer.Context) -> KafkaLauncher:
    settings = settings_of(ctx)
    return KafkaLauncher(settings.broker, settings.state_dir)


@app.command()
def up(ctx: typer.Context) -> None:
    """Fetch the jars once, format storage, start the broker and wait until it serves.

    Idempotent: if the broker already runs, say so and leave it alone.
    """
    launcher = _launcher(ctx)
    started_at = time.monotonic()
    status, started = launcher.up()
    if started:
        console.print(
            f"Kafka {status.version} is up at [bold]{status.bootstrap}[/bold] "
            f"(pid {status.pid}, ready in {time.monotonic() - started_at:.1f}s)"
        )
    else:
        console.print(
            f"Kafka {status.version} is already running at [bold]{status.bootstrap}[/bold] "
            f"(pid {status.pid})"
        )
    console.print(f"bootstrap: {status.bootstrap}", highlight=False)


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the broker this state directory started. Never touches anything else."""
    if _launcher(ctx).down():
        console.print("Kafka stopped.")
    else:
        console.print("Kafka is not running (nothing this launcher started).")


@app.command()
def status(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Report running or stopped, with the pid, the bootstrap address and the version.

    Exit code 0 when running, 1 when stopped.
    """
    st = _launcher(ctx).status()
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
            "(start it with: proofstream kafka up)",
            highlight=False,
        )
    raise typer.Exit(0 if st.running else 1)
