"""The capacity model's arithmetic: measured figures in, the numbers of
``docs/capacity.md`` out. Pure (``read_figures`` aside, which reads a bench JSON).

Every function is a plain formula, stated in its docstring, so a reader can redo a
table cell by hand; ``tests/unit/test_capacity_model.py`` does exactly that. A
figure that was not measured is ``None`` and prints as :data:`NOT_MEASURED`: the
model never fills a gap with a guess.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DAY_S",
    "FLUSH_HISTORY",
    "NOT_MEASURED",
    "YEAR_DAYS",
    "archive_segment_records",
    "cell",
    "events_per_batch",
    "events_per_day",
    "fmt_bytes",
    "fmt_count",
    "fmt_duration",
    "kafka_bytes_per_year",
    "live_bytes_per_event",
    "lookup",
    "partitions_needed",
    "per_core",
    "percentile",
    "read_figures",
    "rebuild_seconds",
    "throughput_rows",
    "workers_needed",
]

NOT_MEASURED = "not measured"
DAY_S = 86_400
YEAR_DAYS = 365

FLUSH_HISTORY = frozenset({"evidence", "lineage"})
"""Planes whose every flush leaves data behind for good: the evidence ledger keeps
every signed checkpoint (``checkpoints/<size>``, write-once history) and the lineage
file gets a RUNNING checkpoint event per flush. The other planes' per-flush writes
are watermarks that are replaced (catalog), pruned (identity, every 1024 flushes)
or collapsed by a ReplacingMergeTree (facts): they do not grow with time."""


def events_per_day(runs_per_day: float, events_per_run: float) -> float:
    """``runs_per_day * events_per_run``."""
    return runs_per_day * events_per_run


def events_per_batch(ev_s: float, window_s: float = 0.1) -> float:
    """Mean events in one worker batch when events arrive at random (Poisson) at
    ``ev_s``: the worker takes what arrives within ``window_s`` (its
    ``batch_within_s``), and an empty window makes no batch, so
    ``ev_s * window_s / (1 - exp(-ev_s * window_s))`` (1 at low rates)."""
    x = ev_s * window_s
    return 1.0 if x <= 0 else x / -math.expm1(-x)


def percentile(values: list[int], q: int) -> float:
    """The ``q``-th percentile of ``values``, nearest rank on the sorted values:
    ``sorted[round(q / 100 * (n - 1))]``."""
    ordered = sorted(values)
    return float(ordered[round(q / 100 * (len(ordered) - 1))])


def live_bytes_per_event(plane: str, per_event: float, per_flush: float | None) -> float:
    """What one event costs a live store that flushes after every event:
    ``per_event + per_flush`` for the planes in :data:`FLUSH_HISTORY`, else
    ``per_event``. A missing ``per_flush`` counts as 0."""
    if plane in FLUSH_HISTORY and per_flush is not None:
        return per_event + per_flush
    return per_event


def kafka_bytes_per_year(
    bytes_per_event: float,
    events_daily: float,
    *,
    replication: int = 3,
    local_days: int | None = None,
    days: int = YEAR_DAYS,
) -> tuple[float, float]:
    """(bytes on the brokers' disks, bytes in object storage) after ``days`` of a
    topic that keeps everything. Full local retention: ``daily * days * replication``
    on the brokers, nothing remote. Tiered storage: the last ``local_days`` on the
    brokers (``daily * local_days * replication``) and one copy of every day in
    object storage (``daily * days``: the leader uploads each closed segment once;
    the object store's own redundancy is its business)."""
    daily = bytes_per_event * events_daily
    if local_days is None:
        return daily * days * replication, 0.0
    return daily * min(local_days, days) * replication, daily * days


def archive_segment_records(
    events_daily: float, partitions: int, *, seal_age_s: float = 300.0, seal_records: int = 50_000
) -> int:
    """Records in one sealed archive segment at a steady rate: what one partition
    receives in ``seal_age_s`` (segments seal by age first at these rates), capped at
    ``seal_records``, at least 1: ``round(events_daily / 86,400 / partitions *
    seal_age_s)``."""
    per_partition_s = events_daily / DAY_S / partitions
    return max(1, min(seal_records, round(per_partition_s * seal_age_s)))


def per_core(ev_s: float | None, cpus: int | None) -> float | None:
    """``ev_s / cpus``; ``None`` when either is unknown."""
    if ev_s is None or not cpus:
        return None
    return ev_s / cpus


def workers_needed(target_ev_s: float, slowest_ev_s: float, *, headroom: float = 2.0) -> int:
    """Workers of the measured size for ``target_ev_s``: ``ceil(target * headroom /
    slowest plane's ev/s)``."""
    return max(1, math.ceil(target_ev_s * headroom / slowest_ev_s))


def partitions_needed(
    target_ev_s: float, slowest_ev_s: float, *, processes: int = 1, headroom: float = 2.0
) -> int:
    """``max(ceil(target * headroom / slowest), processes)``.

    One partition is read by one consumer of a plane, so it can carry at most what
    one worker drains for its slowest plane (``slowest_ev_s``, measured with every
    partition in one worker: an upper bound per partition). The headroom leaves
    room to catch up after an outage. At least one partition per worker process."""
    return max(processes, workers_needed(target_ev_s, slowest_ev_s, headroom=headroom))


def rebuild_seconds(events: float, ev_s: float | None) -> float | None:
    """``events / ev_s``: linear in the log's length; ``None`` when not measured."""
    if not ev_s:
        return None
    return events / ev_s


def read_figures(path: Path) -> dict[str, Any] | None:
    """A bench's ``--json-out`` file, or ``None`` when it does not exist."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else None


def lookup(figures: Mapping[str, Any] | None, *keys: str) -> float | None:
    """The number at ``figures[k1][k2]…``, or ``None`` when any part is missing."""
    node: Any = figures
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    return float(node)


def throughput_rows(
    pipeline: Mapping[str, Any] | None, replay: Mapping[str, Any] | None
) -> list[tuple[str, float | None, int | None]]:
    """``(what, ev/s, CPUs it ran on)`` for each throughput figure of the benches:
    every plane of the whole worker (sharing the machine), the facts plane alone,
    and the two rebuilds. Missing files or keys give ``None`` rates."""
    rows: list[tuple[str, float | None, int | None]] = []
    cpus = _cpus(pipeline)
    planes = (pipeline or {}).get("whole", {}).get("planes_ev_s") or {}
    names = sorted(planes) or ["every plane"]
    for name in names:
        rows.append((f"whole worker: {name}", lookup(pipeline, "whole", "planes_ev_s", name), cpus))
    rows.append(("whole worker, all planes together", lookup(pipeline, "whole", "ev_s"), cpus))
    rows.append(("facts plane alone", lookup(pipeline, "facts_alone", "draining_ev_s"), cpus))
    rcpus = _cpus(replay)
    rows.append(("rebuild: facts", lookup(replay, "facts", "ev_s"), rcpus))
    rows.append(("rebuild: all planes, one pass", lookup(replay, "all", "ev_s"), rcpus))
    return rows


def _cpus(figures: Mapping[str, Any] | None) -> int | None:
    value = lookup(figures, "machine", "cpus")
    return int(value) if value else None


def cell(value: float | None, fmt: Callable[[float], str]) -> str:
    """``fmt(value)``, or :data:`NOT_MEASURED`."""
    return NOT_MEASURED if value is None else fmt(value)


def _three(x: float) -> str:
    """Three significant digits below 1,000 (no trailing zeros), whole numbers from
    there on: ``1.23``, ``12.3``, ``123``, ``1,234``."""
    if x == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(x))))
    return f"{round(x, digits):,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{x:,.0f}"


def fmt_bytes(n: float) -> str:
    """Decimal units (1 GB = 10⁹ bytes), three significant digits: ``1.23 GB``."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{_three(n / size)} {unit}"
    return f"{_three(n)} B"


def fmt_count(n: float) -> str:
    """Three significant digits with thousands separators: ``12,300``, ``1.23``."""
    return _three(n)


def fmt_duration(seconds: float) -> str:
    """Seconds, minutes, hours or days, whichever reads best: ``42 s``, ``3.5 h``."""
    for unit, size in (("days", 86_400.0), ("h", 3_600.0), ("min", 60.0)):
        if seconds >= size * (2 if unit == "days" else 1):
            return f"{_three(seconds / size)} {unit}"
    return f"{_three(seconds)} s"
