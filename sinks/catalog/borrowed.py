"""What the catalog takes from the facts plane, in one place to re-point.

The catalog describes the warehouse tables the facts plane writes, with their
columns, read from the facts plane's shipped DDL (``sinks/facts/migrations/*.sql``)
as package data: no facts-plane module is imported. When that DDL becomes
generated, only this module changes.
"""

from __future__ import annotations

import re
from importlib import resources

__all__ = ["facts_tables", "warehouse_tables"]

WAREHOUSE_DDL = ("sinks", "facts/migrations")
"""Package and folder of the ``*.sql`` files that create the warehouse tables."""

_BOOKKEEPING = frozenset({"watermarks"})
"""Warehouse tables the facts plane keeps for itself rather than projects events into."""

_COLUMN = re.compile(r"^\s+([a-z_][a-z0-9_]*)\s+(.+?),?\s*$")
_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*?)\n\)", re.S)
_TAIL = re.compile(r"\s+(CODEC|DEFAULT|MATERIALIZED)\b.*$")


def warehouse_tables() -> dict[str, list[tuple[str, str]]]:
    """Table → ``(column, ClickHouse type)``, read from the shipped migrations' DDL in
    file order (a later ``CREATE`` of the same table wins). Pure."""
    tables: dict[str, list[tuple[str, str]]] = {}
    package, folder_name = WAREHOUSE_DDL
    folder = resources.files(package).joinpath(folder_name)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, body in _CREATE.findall(entry.read_text("utf-8")):
            cols = []
            for line in body.splitlines():
                match = _COLUMN.match(line)
                if match and not line.strip().upper().startswith(("INDEX", "PROJECTION")):
                    cols.append((match[1], _TAIL.sub("", match[2]).strip()))
            tables[name] = cols
    return tables


def facts_tables() -> tuple[str, ...]:
    """The warehouse tables the facts projection writes events into, in DDL order. Pure."""
    return tuple(t for t in warehouse_tables() if t not in _BOOKKEEPING)
