"""Read-only guard and result type of the direct query path. Pure, no I/O.

Analyst queries (:class:`sinks.facts.query.FactsReader`, used directly by the CLI
and served over HTTP by the worker) run against the facts plane. Read-only is
enforced twice: :func:`check_read_only` rejects anything but one
``SELECT``/``WITH``/``SHOW``/``DESCRIBE``/``EXPLAIN`` statement, and the query
then runs with the ClickHouse setting ``readonly=1``, so a statement that slips
past the parser is still refused by the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from schemas.errors import InvalidQueryError

__all__ = ["READ_ONLY_KEYWORDS", "QueryResult", "check_read_only", "strip_comments"]

READ_ONLY_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"})
"""First keywords a read-only query may start with."""

_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z]+)")
# chDB writes INTO OUTFILE results to the local file system even with readonly=1.
_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Column names and rows of a query, in the order the engine returned them."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def strip_comments(sql: str) -> tuple[str, int]:
    """``sql`` without ``--`` line and ``/* */`` block comments, and the number of
    ``;`` found outside quotes and comments. Quoted text is kept verbatim. Pure.

    ``#`` is deliberately not treated as a comment: a ``;`` after it still counts,
    so the guard can only over-reject, never hide a second statement.

    Raises :class:`InvalidQueryError` for an unterminated quote or comment.
    """
    out: list[str] = []
    semicolons = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while j < n and sql[j] != ch:
                j += 2 if sql[j] == "\\" else 1
            if j >= n:
                raise InvalidQueryError(sql, "unterminated quote")
            out.append(sql[i : j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise InvalidQueryError(sql, "unterminated comment")
            i = j + 2
            out.append(" ")
        else:
            if ch == ";":
                semicolons += 1
            out.append(ch)
            i += 1
    return "".join(out), semicolons


def check_read_only(sql: str) -> str:
    """The single statement of ``sql``, comments and a trailing ``;`` removed. Pure.

    Raises :class:`InvalidQueryError` when ``sql`` is empty, holds more than one
    statement, does not start with a read-only keyword, or writes a file
    (``INTO OUTFILE``).
    """
    text, semicolons = strip_comments(sql)
    text = text.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
        semicolons -= 1
    if not text:
        raise InvalidQueryError(sql, "empty query")
    if semicolons:
        raise InvalidQueryError(sql, "only one statement per query")
    match = _FIRST_WORD.match(text)
    keyword = match.group(1).upper() if match else ""
    if keyword not in READ_ONLY_KEYWORDS:
        raise InvalidQueryError(
            sql,
            f"read-only queries start with {'/'.join(sorted(READ_ONLY_KEYWORDS))},"
            f" not {keyword or '?'}",
        )
    if _OUTFILE.search(text):
        raise InvalidQueryError(sql, "INTO OUTFILE writes files: not allowed")
    return text
