"""Digest and compare helpers for the planes whose generations are directories.

The file-backed planes (identity, catalog, evidence, lineage) digest and diff a
generation with these, so their verdicts match the ClickHouse plane's in form:

- :func:`in_range` tells whether a log position lies in the covered range;
- :func:`multiset_part` digests a multiset of byte strings independently of
  order, and :func:`combine_parts` combines named parts into one digest value;
- :func:`watermark_verdict` says why a live store that cannot be restricted to
  log positions is *not* comparable with a rebuild (or None when it is);
- :func:`whole_store_digest` makes the digest of such a store, marked not comparable
  when :func:`watermark_verdict` says so;
- :func:`keyed_diff` compares two stores' contents keyed by a natural key.

Everything here is pure: no store is opened, nothing is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from sinks.base import Watermark
from sinks.generations import Digest, LogRange, TableDiff

__all__ = [
    "combine_parts",
    "in_range",
    "keyed_diff",
    "multiset_part",
    "watermark_verdict",
    "whole_store_digest",
]


def in_range(covered: LogRange, topic: str, partition: int, offset: int) -> bool:
    """Whether a log position lies in ``covered``. Pure."""
    span = covered.get((topic, partition))
    return span is not None and span[0] <= offset <= span[1]


def multiset_part(items: Iterable[bytes]) -> tuple[str, int]:
    """An order-independent digest of a multiset of byte strings: ``count:sum`` of the
    first 8 bytes of each item's SHA-256, mod 2^64 (a sum, unlike XOR, also counts an
    item that appears twice). Returns (part, count). Pure."""
    total = count = 0
    for item in items:
        total = (total + int.from_bytes(hashlib.sha256(item).digest()[:8], "big")) % (1 << 64)
        count += 1
    return f"{count}:{total:016x}", count


def combine_parts(parts: Mapping[str, str]) -> str:
    """The combined digest value of named parts (as the ClickHouse plane combines its
    tables: SHA-256 over sorted ``name=part`` lines). Pure."""
    return hashlib.sha256("\n".join(f"{k}={parts[k]}" for k in sorted(parts)).encode()).hexdigest()


def watermark_verdict(live: Watermark, covered: LogRange) -> str | None:
    """Why a live store that cannot be restricted to log positions is *not* comparable
    with a rebuild of ``covered`` — or None when it is. Pure.

    Comparable means live applied exactly the covered positions: every covered
    partition starts at offset 0 and live's watermark equals its last offset, and
    live has no watermark on another partition of the covered topics.
    """
    topics = {topic for topic, _ in covered}
    problems = [
        f"{t}/{p} starts at {first}, not 0"
        for (t, p), (first, _) in sorted(covered.items())
        if first != 0
    ]
    marks = {key: offset for key, offset in live.items() if key[0] in topics}
    expected = {key: last for key, (_, last) in covered.items()}
    if marks != expected:
        problems.append(f"live watermark {_marks_text(marks)} != rebuild {_marks_text(expected)}")
    if not problems:
        return None
    return "; ".join(problems)


def whole_store_digest(
    parts: Mapping[str, str],
    rows: Mapping[str, int],
    note: str,
    live: tuple[Watermark, LogRange] | None = None,
) -> Digest:
    """The digest of a whole store (one that cannot be restricted to log positions).
    For live, ``live`` is (its watermark, the rebuild's range): when they do not match
    (:func:`watermark_verdict`) the digest is marked not comparable and its value can
    never equal a rebuild's. Pure."""
    combined = combine_parts(parts)
    why = watermark_verdict(*live) if live is not None else None
    if why is not None:
        return Digest(
            f"not-comparable:{combined}",
            parts,
            rows,
            note=f"{note}; live is not comparable with this rebuild: {why}",
            comparable=False,
        )
    return Digest(combined, parts, rows, note=note)


def keyed_diff(
    table: str, live: Mapping[str, bytes], shadow: Mapping[str, bytes], *, sample: int = 5
) -> TableDiff:
    """Compare two stores' contents keyed by a natural key: keys only the shadow has
    are ``added``, only live ``removed``, both with other content ``changed``. Pure."""
    added = shadow.keys() - live.keys()
    removed = live.keys() - shadow.keys()
    changed = {k for k in live.keys() & shadow.keys() if live[k] != shadow[k]}
    keys = sorted(added | removed | changed)[:sample]
    return TableDiff(table, len(added), len(removed), len(changed), tuple(keys))


def _marks_text(marks: Mapping[tuple[str, int], int]) -> str:
    return "{" + ", ".join(f"{p}:{o}" for (_, p), o in sorted(marks.items())) + "}"
