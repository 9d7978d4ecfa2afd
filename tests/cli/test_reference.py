"""The README's command reference is the CLI: every command has a row, every row is a
command, every flag is spelled in its row, every ``--json`` is documented, and every
command answers ``--help``. No broker needed."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from proofstream.cli import app
from tests.cli.conftest import ENTRY_POINT
from tests.cli.readme_reference import commands, json_shapes


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield path, command


LEAVES = dict(_leaves(typer.main.get_command(app)))


def _flags(command: Any) -> set[str]:
    return {
        flag
        for p in command.params
        if p.param_type_name == "option" and not getattr(p, "hidden", False)
        for flag in (*p.opts, *p.secondary_opts)
        if flag.startswith("--")
    }


def test_every_command_has_a_row_and_every_row_is_a_command() -> None:
    documented = [doc.path for doc in commands()]
    assert len(documented) == len(set(documented)), "a command documented twice"
    assert set(documented) == set(LEAVES)


@pytest.mark.parametrize("doc", commands(), ids=lambda d: " ".join(d.path))
def test_every_flag_is_in_its_row(doc: Any) -> None:
    spelled = set(_flags_in(doc.usage))
    assert _flags(LEAVES[doc.path]) == spelled
    assert 0 in doc.exit_codes


def _flags_in(usage: str) -> Iterator[str]:
    yield from re.findall(r"--[a-z][a-z-]*", usage)


def test_every_json_flag_is_documented() -> None:
    with_json = {path for path, command in LEAVES.items() if "--json" in _flags(command)}
    documented = {doc.usage.split(" --")[0] for doc in json_shapes()}
    for path in with_json:
        assert any(usage.startswith("proofstream " + " ".join(path)) for usage in documented), path
    for doc in json_shapes():
        assert "--json" in doc.usage


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_every_command_answers_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_the_entry_point_answers_help_on_stdout_only() -> None:
    done = subprocess.run(
        [str(ENTRY_POINT), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert done.stderr == ""
    for name in {path[0] for path in LEAVES}:
        assert name in done.stdout
