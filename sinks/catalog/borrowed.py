"""What the catalog takes from the facts plane, in one place to re-point.

The catalog describes the warehouse tables the facts plane writes (their columns)
and links a pull request to the issue it closes by the same rule the facts plane
uses. Both come from the facts plane's side of the repository, which is being
moved (``sinks/facts/``) and whose DDL may become generated: when it lands, only
this module changes. Nothing here imports a facts-plane module at import time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources

__all__ = ["closes_issue_ref", "facts_tables", "warehouse_tables"]

WAREHOUSE_DDL_PACKAGE = "sinks.clickhouse_migrations"
"""The package whose ``*.sql`` files create the warehouse tables (read as resources)."""

_BOOKKEEPING = frozenset({"watermarks"})
"""Warehouse tables the facts plane keeps for itself rather than projects events into."""

_COLUMN = re.compile(r"^\s+([a-z_][a-z0-9_]*)\s+(.+?),?\s*$")
_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*?)\n\)", re.S)
_TAIL = re.compile(r"\s+(CODEC|DEFAULT|MATERIALIZED)\b.*$")


def warehouse_tables() -> dict[str, list[tuple[str, str]]]:
    """Table → ``(column, ClickHouse type)``, read from the shipped migrations' DDL in
    file order (a later ``CREATE`` of the same table wins). Pure."""
    tables: dict[str, list[tuple[str, str]]] = {}
    folder = resources.files(WAREHOUSE_DDL_PACKAGE)
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


def closes_issue_ref(
    attributes: Mapping[str, str] | None, title: str | None, repository: str | None
) -> str | None:
    """The issue a pull request closes (``owner/name#number``), or ``None``: the facts
    plane's rule (:func:`sinks.facts.closes_issue_ref`), so that the catalog, the
    warehouse and the identity graph link the same issue. Pure."""
    from sinks.facts import closes_issue_ref as rule  # re-point when sinks/facts/ lands

    return rule(attributes, title, repository)
