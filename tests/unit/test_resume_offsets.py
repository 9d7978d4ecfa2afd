"""Where a projection resumes: after its store's watermark, never past it."""

from __future__ import annotations

from processors.offsets import resume_offsets


def test_group_ahead_of_store_is_rewound() -> None:
    assert resume_offsets([0, 1], committed={0: 100, 1: 50}, watermark={0: 79, 1: 49}) == {0: 80}


def test_fresh_store_with_old_group_restarts_from_zero() -> None:
    assert resume_offsets([0, 1, 2], committed={0: 10, 1: 5}, watermark={}) == {0: 0, 1: 0}


def test_store_without_group_commit_resumes_after_watermark() -> None:
    assert resume_offsets([0, 1], committed={}, watermark={0: 9}) == {0: 10}


def test_group_behind_store_is_left_alone() -> None:
    assert resume_offsets([0], committed={0: 3}, watermark={0: 9}) == {}
    assert resume_offsets([0], committed={0: 10}, watermark={0: 9}) == {}
