"""The CLI is the user-facing contract: every command answers --help, and the
settings handed to a child worker never carry a secret."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from producers.settings import KafkaSettings
from proofstream.cli import app
from proofstream.settings import Settings, settings_env


def _paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            found += _paths(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _paths(typer.main.get_command(app))


def test_the_documented_commands_exist() -> None:
    expected = {
        ("demo",), ("run",), ("query",), ("status",), ("emit",), ("tail",),
        ("kafka", "up"), ("kafka", "down"), ("kafka", "status"), ("schemas", "check"),
        ("replay", "rebuild"), ("replay", "verify"), ("replay", "gc"),
        ("archive", "verify"), ("dlq", "redrive"),
        ("evidence", "verify"), ("evidence", "audit"), ("catalog", "export"),
    }  # fmt: skip
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], obj=Settings())
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_settings_env_carries_no_secret() -> None:
    settings = Settings(
        kafka=KafkaSettings(sasl_username="svc", sasl_password=SecretStr("hunter2")),
    )
    env = settings_env(settings)
    assert env["PROOFSTREAM_KAFKA__SASL_USERNAME"] == "svc"
    assert not any("hunter2" in v or "***" in v for v in env.values())
    assert "hunter2" not in repr(settings)
