"""The capacity model's arithmetic (``bench/capacity_model.py``), each case worked
out by hand: storage per year, Kafka with and without tiered storage, partitions
and workers for a rate, rebuild time, archive segment sizes, batch sizes, and "not
measured" for a bench that did not run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import capacity_model as m


def test_events_per_day_is_runs_times_events_per_run() -> None:
    assert m.events_per_day(1_000, 16.5) == 16_500


def test_kafka_full_retention_keeps_every_day_on_every_replica() -> None:
    # 500 B x 10,000 events = 5 MB a day; x 365 days x 3 replicas
    local, remote = m.kafka_bytes_per_year(500, 10_000, replication=3)
    assert local == 5_000_000 * 365 * 3 == 5_475_000_000
    assert remote == 0


def test_kafka_tiered_keeps_local_days_on_replicas_and_one_copy_remote() -> None:
    local, remote = m.kafka_bytes_per_year(500, 10_000, replication=3, local_days=7)
    assert local == 5_000_000 * 7 * 3 == 105_000_000
    assert remote == 5_000_000 * 365 == 1_825_000_000


def test_kafka_tiered_with_more_local_days_than_the_period_keeps_it_all_locally() -> None:
    local, _ = m.kafka_bytes_per_year(100, 10, replication=2, local_days=30, days=10)
    assert local == 100 * 10 * 10 * 2


def test_live_bytes_per_event_adds_the_flush_only_where_flushes_stay() -> None:
    assert m.live_bytes_per_event("lineage", 400, 1_200) == 1_600
    assert m.live_bytes_per_event("evidence", 20, 30) == 50
    assert m.live_bytes_per_event("identity", 350, 40) == 350  # watermarks are pruned
    assert m.live_bytes_per_event("facts", 190, None) == 190


def test_partitions_follow_the_slowest_plane_with_headroom() -> None:
    # 10,000 ev/s x 2 / 3,000 ev/s = 6.67 -> 7
    assert m.partitions_needed(10_000, 3_000, processes=2, headroom=2) == 7
    assert m.workers_needed(10_000, 3_000, headroom=2) == 7
    # 1,000 x 2 / 3,000 = 0.67 -> 1, but two worker processes need a partition each
    assert m.partitions_needed(1_000, 3_000, processes=2, headroom=2) == 2
    # exactly a multiple does not round up
    assert m.partitions_needed(6_000, 3_000, processes=1, headroom=1) == 2


def test_rebuild_time_is_linear_and_missing_when_not_measured() -> None:
    assert m.rebuild_seconds(6_000_000, 50_000) == 120
    assert m.rebuild_seconds(6_000_000, None) is None


def test_per_core_divides_by_the_machines_cpus() -> None:
    assert m.per_core(9_000, 2) == 4_500
    assert m.per_core(None, 2) is None
    assert m.per_core(9_000, None) is None


def test_archive_segments_hold_what_a_partition_gets_in_the_seal_age() -> None:
    # 1,728,000 events a day / 86,400 s / 6 partitions = 3.33 ev/s; x 300 s = 1,000
    assert m.archive_segment_records(1_728_000, 6) == 1_000
    assert m.archive_segment_records(1, 6) == 1  # never an empty segment
    assert m.archive_segment_records(1e12, 6) == 50_000  # capped by seal_records


def test_events_per_batch_is_one_at_low_rates_and_grows_with_the_rate() -> None:
    assert m.events_per_batch(0.0) == 1.0
    # 20 ev/s in 0.1 s windows: x = 2, 2 / (1 - e^-2) = 2.313
    assert m.events_per_batch(20.0) == pytest.approx(2 / (1 - math.exp(-2)))
    assert m.events_per_batch(0.2) == pytest.approx(1.01, abs=0.005)


def test_a_missing_bench_file_reads_as_not_measured(tmp_path: Path) -> None:
    assert m.read_figures(tmp_path / "pipeline.json") is None
    rows = m.throughput_rows(None, None)
    assert rows and all(ev_s is None for _, ev_s, _ in rows)
    assert {m.cell(ev_s, m.fmt_count) for _, ev_s, _ in rows} == {m.NOT_MEASURED}


def test_throughput_rows_read_the_benches_json(tmp_path: Path) -> None:
    pipeline = {
        "machine": {"cpus": 4},
        "whole": {"ev_s": 8_000, "planes_ev_s": {"facts": 20_000, "identity": 9_000}},
        "facts_alone": {"draining_ev_s": 40_000},
    }
    (tmp_path / "pipeline.json").write_text(json.dumps(pipeline))
    replay = {"machine": {"cpus": 2}, "events": 1_000_000, "facts": {"ev_s": 90_000}}
    rows = {
        what: (ev_s, cpus)
        for what, ev_s, cpus in m.throughput_rows(
            m.read_figures(tmp_path / "pipeline.json"), replay
        )
    }
    assert rows["whole worker: identity"] == (9_000, 4)
    assert rows["facts plane alone"] == (40_000, 4)
    assert rows["rebuild: facts"] == (90_000, 2)
    assert rows["rebuild: all planes, one pass"] == (None, 2)  # that key is missing
    assert m.per_core(*rows["whole worker: identity"]) == 2_250


def test_percentiles_take_the_nearest_rank() -> None:
    values = [5, 1, 4, 2, 3, 10, 6, 7, 9, 8, 11]  # 1..11: rank = q / 100 * 10
    assert m.percentile(values, 50) == 6
    assert m.percentile(values, 95) == 11  # rank 9.5 rounds to 10
    assert m.percentile(values, 0) == 1


def test_lookup_ignores_what_is_not_a_number() -> None:
    figures = {"a": {"b": 3, "flag": True, "text": "7"}}
    assert m.lookup(figures, "a", "b") == 3.0
    assert m.lookup(figures, "a", "flag") is None
    assert m.lookup(figures, "a", "text") is None
    assert m.lookup(figures, "a", "missing") is None
    assert m.lookup(None, "a") is None


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (512, "512 B"), (1_234, "1.23 kB"), (8.16e9, "8.16 GB"), (1.6e12, "1.6 TB")],
)
def test_bytes_print_in_decimal_units(n: float, text: str) -> None:
    assert m.fmt_bytes(n) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(42, "42 s"), (90, "1.5 min"), (7_200, "2 h"), (86_400, "24 h"), (3 * 86_400, "3 days")],
)
def test_durations_print_in_the_unit_that_reads_best(seconds: float, text: str) -> None:
    assert m.fmt_duration(seconds) == text
