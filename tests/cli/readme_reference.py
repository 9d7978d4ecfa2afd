"""The README's command reference, read as data: the commands with their usage and
exit codes, and the documented ``--json`` shapes. The CLI tier checks the real
commands against it, so the README cannot drift from what the commands do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass(frozen=True)
class CommandDoc:
    """One row of the command table: ``path`` like ``("replay", "verify")``."""

    path: tuple[str, ...]
    usage: str
    exit_codes: frozenset[int]


class Shape(Enum):
    OBJECT = "object"  # {a, b}: exactly these keys
    PER_PLANE = "per plane"  # {<plane>: {a, b}}: each value has exactly these keys
    ROWS = "rows"  # [{a, b}]: a list of objects with exactly these keys
    COLUMNS = "columns"  # [{<column>: value}]: a list of objects keyed by column
    LINES = "lines"  # lines of {a, b, …}: one object per line, at least these keys


@dataclass(frozen=True)
class JsonDoc:
    """One row of the ``--json`` table."""

    usage: str
    shape: Shape
    keys: tuple[str, ...]
    open_ended: bool  # "…": more keys may follow


def _section(heading: str) -> str:
    text = README.read_text()
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _rows(table_header: str) -> list[list[str]]:
    """The cells of the markdown table that starts with ``table_header``."""
    section = _section("Command reference")
    block = section[section.index(table_header) :].split("\n\n", 1)[0]
    rows = []
    for line in block.splitlines()[2:]:
        # a pipe inside backticks is escaped as \| in the README
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(cells)
    return rows


def _path(usage: str) -> tuple[str, ...]:
    words = usage.split()
    assert words[0] == "proofstream", usage
    path = []
    for word in words[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        path.append(word)
    return tuple(path)


def commands() -> list[CommandDoc]:
    found = []
    for usage_cell, _what, codes in _rows("| Command | What it does | Exit codes |"):
        usage = usage_cell.strip("`")
        exit_codes = frozenset(int(c) for c in re.findall(r"\b\d+\b", codes))
        found.append(CommandDoc(_path(usage), usage, exit_codes))
    return found


def json_shapes() -> list[JsonDoc]:
    found = []
    for usage_cell, printed in _rows("| Command | `--json` prints |"):
        usage = usage_cell.strip("`")
        first = re.search(r"`([^`]*)`", printed)
        assert first, printed
        code = first.group(1)
        if code.startswith("{<plane>:"):
            shape, inner = Shape.PER_PLANE, code[len("{<plane>:") :]
        elif code.startswith("[{<column>"):
            shape, inner = Shape.COLUMNS, ""
        elif code.startswith("[{"):
            shape, inner = Shape.ROWS, code
        elif printed.startswith("lines of"):
            shape, inner = Shape.LINES, code
        else:
            shape, inner = Shape.OBJECT, code
        braces = re.search(r"\{([^{}]*)\}", inner)
        names = [k.strip() for k in braces.group(1).split(",")] if braces else []
        open_ended = "…" in names
        keys = tuple(k for k in names if k and k != "…")
        found.append(JsonDoc(usage, shape, keys, open_ended))
    return found
