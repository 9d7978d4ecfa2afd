"""The configuration reference cannot drift from the code.

docs/configuration.md is generated from the ``Settings`` model
(:mod:`proofstream.config_doc`); these tests fail when a field is added, renamed or
changed without regenerating it, when a field has no description, when a document
names a ``PROOFSTREAM_*`` variable that no longer exists, and when the reference
would carry a path of the machine that generated it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proofstream import config_doc
from proofstream.config_doc import REGENERATE, document, leaves, sections
from proofstream.settings import Settings, secret_files

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"
PREFIX = "PROOFSTREAM_"
PACKAGES = ("schemas", "producers", "processors", "sinks", "replay", "proofstream")

# Variables the code reads itself, outside Settings: the secrets directory has to be
# known before Settings is built (proofstream.cli.build_settings).
NON_SETTINGS = {"PROOFSTREAM_SECRETS_DIR"}

# a full name; a trailing `__` (`PROOFSTREAM_KAFKA__*`) names the section
FULL_NAME = re.compile(r"PROOFSTREAM_[A-Z0-9_]*[A-Z0-9]")
# a shorthand continuing the previous name's section on the same line:
# `PROOFSTREAM_BROKER__PORT` / `__CONTROLLER_PORT`
SHORTHAND = re.compile(r"`(__[A-Z0-9_]*[A-Z0-9])`")
ENV_READ = re.compile(
    r"""(?:environ\.get\(|environ\[|getenv\()\s*["'](PROOFSTREAM_[A-Z0-9_]+)["']"""
)


def _known() -> set[str]:
    """Every variable that means something: each leaf and section of Settings, plus
    the ones the code reads outside it."""
    keys = [leaf.key for leaf in leaves()] + sections()
    return {PREFIX + key.upper() for key in keys} | NON_SETTINGS


def _mentions(path: Path) -> list[tuple[int, str]]:
    """``(line number, variable)`` for every full or shorthand name in ``path``."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        section = None
        events = sorted(
            [(m.start(), m.group(0), False) for m in FULL_NAME.finditer(line)]
            + [(m.start(), m.group(1), True) for m in SHORTHAND.finditer(line)]
        )
        for _, name, short in events:
            if not short:
                found.append((number, name))
                section = name.rsplit("__", 1)[0] if "__" in name else None
            elif section is not None:
                found.append((number, section + name))
    return found


def _documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_reference_is_what_the_code_generates() -> None:
    assert REFERENCE.read_text() == document(), (
        f"docs/configuration.md is out of date with the settings; regenerate it:\n    {REGENERATE}"
    )


@pytest.mark.parametrize("leaf", leaves(), ids=lambda leaf: leaf.key)
def test_every_setting_has_a_description(leaf: config_doc.Leaf) -> None:
    description = (leaf.field.description or "").strip()
    assert description, f"{leaf.key}: add Field(description=...) (what it is, units, values)"
    if leaf.secret:
        # a secret's description says where it is read from
        assert f"`{leaf.key}`" in description and "secrets directory" in description, (
            f"{leaf.key}: say it is read from the file `{leaf.key}` in the secrets directory"
        )


def test_the_walk_finds_every_secret() -> None:
    assert {leaf.key for leaf in leaves() if leaf.secret} == set(secret_files())


def test_every_documented_variable_exists() -> None:
    known = _known()
    stale = [
        f"{path.relative_to(ROOT)}:{number}: {name}"
        for path in _documents()
        for number, name in _mentions(path)
        if name not in known
    ]
    assert not stale, "no such setting (see docs/configuration.md):\n" + "\n".join(stale)


def test_the_only_variables_read_outside_settings_are_known() -> None:
    read = {
        name
        for package in PACKAGES
        for source in (ROOT / package).rglob("*.py")
        for name in ENV_READ.findall(source.read_text())
    }
    assert read == NON_SETTINGS, f"PROOFSTREAM_* read outside Settings: {sorted(read)}"


def test_the_documented_secrets_dir_default_is_the_one_read() -> None:
    from proofstream.cli import DEFAULT_SECRETS_DIR

    assert str(DEFAULT_SECRETS_DIR) == config_doc.DEFAULT_SECRETS_DIR


def test_the_reference_holds_no_path_of_this_machine() -> None:
    text = document()
    for machine_path in {str(Path.home()), str(Path.cwd()), str(ROOT), "/work/", "/root"}:
        assert machine_path not in text, f"{machine_path} leaked into the reference"
    assert "~/.cache/proofstream" in text
    assert "<state_dir>/chronicle" in text


def test_this_environment_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference is built from the model, not from this environment: a secret (or
    any value) set here does not reach it, though Settings() would read both."""
    monkeypatch.setenv("PROOFSTREAM_DATAHUB__TOKEN", "hunter2-env")
    monkeypatch.setenv("PROOFSTREAM_KAFKA__CLIENT_ID", "from-this-machine")
    assert Settings().kafka.client_id == "from-this-machine"
    text = document()
    assert "hunter2" not in text
    assert "from-this-machine" not in text


def test_the_table_has_one_row_per_leaf() -> None:
    table = config_doc.markdown_table()
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(leaves())
    assert all(row.count(" | ") == 3 for row in rows)
