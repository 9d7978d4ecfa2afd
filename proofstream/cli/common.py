"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import logging
import sys
import time

import typer
from rich.console import Console

from proofstream.settings import Settings

__all__ = ["configure_logging", "console", "console_error", "settings_of"]

console = Console()
_err = Console(stderr=True)


def settings_of(ctx: typer.Context) -> Settings:
    """The ``Settings`` built by ``main()``; commands never build their own."""
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):  # a command invoked outside main(), e.g. in tests
        raise TypeError("proofstream commands need the Settings object in ctx.obj")
    return obj


def console_error(message: str) -> None:
    """Print an expected failure as one readable line on stderr."""
    _err.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    sys.stderr.flush()


def configure_logging(level: str) -> None:
    """Route every library's logging through Python logging at ``level``, on stderr,
    with ISO 8601 UTC times. Called by ``main()`` with ``PROOFSTREAM_LOG_LEVEL`` and
    again by ``run --loglevel``, which wins (``force``)."""
    handler = logging.StreamHandler()
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
