"""``proofstream demo``: the main job on embedded defaults."""

from __future__ import annotations

import typer

from proofstream.cli.common import console, settings_of
from proofstream.devstack.kafka import KafkaLauncher
from proofstream.devstack.smoke import round_trip

__all__ = ["demo"]


def demo(ctx: typer.Context) -> None:
    """Start Kafka if needed, then push events through it and show the result.

    The broker is left running so the test command can use it; stop it with
    ``proofstream kafka down``.
    """
    settings = settings_of(ctx)
    status, started = KafkaLauncher(settings.broker, settings.state_dir).up()
    verb = "started" if started else "already running"
    console.print(f"Kafka {status.version} {verb} at {status.bootstrap}")
    result = round_trip(settings.kafka)
    console.print(
        f"round trip through {result.topic}: sent {result.sent}, "
        f"received {result.received} in {result.seconds:.2f}s"
    )
    if result.received != result.sent:
        raise typer.Exit(1)
