"""The SQL of the facts plane's digests and diffs, and how covered ranges are recorded.

Digests are order-independent: per table ``count()`` and
``sum(cityHash64(tuple(<columns>)))`` (mod 2^64) over ``FINAL`` rows. ``tuple``
keeps NULLs hashable (``cityHash64(NULL, …)`` is NULL and would vanish from the
sum); a sum, unlike XOR, also counts a row that appears twice. Every column takes
part except ``ingest_version`` (:data:`DIGEST_EXCLUDED`): it is the projection
version, which a bug-fix rebuild changes on every row by design and which is
recorded per generation instead. The log coordinates *do* take part: for the same
log positions the live worker and a rebuild write the same ones.

Restriction to a log range: ``proof_facts`` carries the log coordinates of every
event; the typed tables are restricted to the ``event_id`` of those rows. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import orjson

from sinks.facts.avro_types import ident, quote
from sinks.facts.views import TABLE_COLUMNS
from sinks.generations import LogRange

__all__ = [
    "DIGEST_EXCLUDED",
    "combined",
    "covered_json",
    "covered_of",
    "diff_sql",
    "digest_sql",
    "range_filter",
]

DIGEST_EXCLUDED = frozenset({"ingest_version"})
"""Columns left out of digests and diffs (see the module docstring)."""


def range_filter(covered: LogRange) -> str:
    """A SQL predicate on ``proof_facts`` log columns selecting ``covered``."""
    if not covered:
        return "0"
    return " OR ".join(
        f"(log_topic = {quote(topic)} AND log_partition = {partition}"
        f" AND log_offset BETWEEN {first} AND {last})"
        for (topic, partition), (first, last) in sorted(covered.items())
    )


def _hash(table: str) -> str:
    columns = [c for c in TABLE_COLUMNS[table] if c not in DIGEST_EXCLUDED]
    return f"cityHash64(tuple({', '.join(ident(c) for c in columns)}))"


def _where(table: str, slot: str, covered: LogRange) -> str:
    if table == "proof_facts":
        return range_filter(covered)
    return (
        f"event_id IN (SELECT event_id FROM proof_facts{slot} FINAL WHERE {range_filter(covered)})"
    )


def digest_sql(table: str, slot: str, covered: LogRange) -> str:
    """``count()`` and the hash sum of ``table<slot>`` over ``covered``."""
    return (
        f"SELECT count(), sum({_hash(table)}) FROM {table}{slot} FINAL"
        f" WHERE {_where(table, slot, covered)}"
    )


def diff_sql(table: str, slot: str, covered: LogRange) -> str:
    """Rows added/removed/changed by ``event_id``, ``table<slot>`` against live, with
    up to five differing keys."""
    h = _hash(table)
    return (
        "SELECT countIf(l.h IS NULL), countIf(s.h IS NULL),"
        " countIf(l.h IS NOT NULL AND s.h IS NOT NULL AND l.h != s.h),"
        " groupArrayIf(5)(coalesce(l.k, s.k), l.h IS NULL OR s.h IS NULL OR l.h != s.h)"
        f" FROM (SELECT event_id AS k, {h} AS h FROM {table} FINAL"
        f"       WHERE {_where(table, '', covered)}) AS l"
        f" FULL OUTER JOIN (SELECT event_id AS k, {h} AS h FROM {table}{slot} FINAL"
        f"       WHERE {_where(table, slot, covered)}) AS s ON l.k = s.k"
        " SETTINGS join_use_nulls = 1"
    )


def combined(parts: Mapping[str, str]) -> str:
    """The digest value of per-table parts: SHA-256 over sorted ``table=part`` lines."""
    return hashlib.sha256("\n".join(f"{t}={parts[t]}" for t in sorted(parts)).encode()).hexdigest()


def covered_json(covered: LogRange) -> str:
    return orjson.dumps(
        [
            {"topic": t, "partition": p, "first": first, "last": last}
            for (t, p), (first, last) in sorted(covered.items())
        ]
    ).decode()


def covered_of(text: str) -> LogRange:
    if not text:
        return {}
    return {
        (i["topic"], int(i["partition"])): (int(i["first"]), int(i["last"]))
        for i in orjson.loads(text)
    }
