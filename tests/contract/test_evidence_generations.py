"""Generations of the evidence plane: a rebuilt log digests like live, swaps in only
when it extends every checkpoint live published (sealed in live's order), and is
refused when it would rewrite signed history; and the plane as the registry lists it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.errors import ConfigError
from sinks.base import Batch
from sinks.directories import live_dir
from sinks.evidence import ChronicleSettings
from sinks.evidence.generations import EvidenceGenerations
from sinks.evidence.ledger import CHECKPOINT, Ledger
from sinks.evidence.projection import LedgerLeaf
from sinks.evidence.store import EvidenceStore
from sinks.evidence.verify import LogVerifier
from sinks.generations import LIVE
from tests.contract import evidence_support as ev
from tests.contract.store_contract import TOPIC

# --- generations ---------------------------------------------------------------------


def _interleaved(store: EvidenceStore) -> tuple[Batch, Batch]:
    """Live sees partition 1 before partition 0: an order a rebuild does not read."""
    p0, p1 = ev.evidence_batch(6, partition=0), ev.evidence_batch(5, partition=1)
    ev.apply(store, p1)
    store.flush()
    ev.apply(store, p0)
    store.flush()
    return p0, p1


def _rebuild(tmp_path: Path, live: EvidenceStore, batches: list[Batch]) -> tuple[Any, int]:
    gens = EvidenceGenerations(live, ev.root_of(tmp_path), ev.keys(tmp_path))
    number = gens.allocate(1)
    shadow = gens.open_shadow(number)
    try:
        for batch in batches:
            ev.apply(shadow, batch)  # type: ignore[arg-type]
        shadow.flush()
    finally:
        shadow.close()
    return gens, number


COVERED = {(TOPIC, 0): (0, 5), (TOPIC, 1): (0, 4)}


def test_a_rebuild_digests_equal_and_swaps_in_extending_live(tmp_path: Path) -> None:
    live = ev.open_live(tmp_path)
    p0, p1 = _interleaved(live)
    live_history = live.ledger.checkpoints()
    gens, number = _rebuild(tmp_path, live, [p0, p1])  # log order, not live's
    assert gens.digest(number, COVERED) == gens.digest(LIVE, COVERED)
    assert all(d.equal for d in gens.diff(number, COVERED))
    gens.finish(number, COVERED, gens.digest(number, COVERED), {})
    gens.swap(number)
    live.close()
    root = ev.root_of(tmp_path)
    assert live_dir(root) == root / "generations" / f"g{number}"
    swapped = ev.open_live(tmp_path)
    try:
        # live's published checkpoints still verify against the new log
        assert [r.note for r in swapped.ledger.checkpoints()] == [r.note for r in live_history]
        assert swapped.ledger.root(11) == bytes.fromhex(live_history[-1].root_hex)
        assert swapped.watermark() == {(TOPIC, 0): 5, (TOPIC, 1): 4}
        # a verifier holding live's old checkpoints checks them against the new files
        check = LogVerifier(swapped.ledger.directory, ev.keys(tmp_path).trusted)
        latest = check.latest().checkpoint
        for size in check.history():
            old = check.at(size).checkpoint
            check.prove_consistency(old, latest)
            for index in range(size):
                check.prove_inclusion(index, old)
        ev.apply(swapped, ev.evidence_batch(2, partition=0, start=6))
        swapped.flush()
        assert swapped.ledger.size == 13
    finally:
        swapped.close()
    gens.drop(0)
    assert not (root / CHECKPOINT).exists() and not (root / "tile").exists()


def test_a_swap_that_would_rewrite_published_history_is_refused(tmp_path: Path) -> None:
    live = ev.open_live(tmp_path)
    p0, p1 = _interleaved(live)
    # a leaf the log does not hold, published in live's history
    live.write([LedgerLeaf("not-in-the-log", "0" * 64, "log", "nothing")], {})
    live.ledger.commit(live._buffer, {})
    gens, number = _rebuild(tmp_path, live, [p0, p1])
    digest = gens.digest(number, COVERED)
    assert digest == gens.digest(LIVE, COVERED)  # same leaves at the covered positions
    gens.finish(number, COVERED, digest, {})
    with pytest.raises(ConfigError, match="rewrite signed evidence history"):
        gens.swap(number)
    assert live_dir(ev.root_of(tmp_path)) == ev.root_of(tmp_path)
    live.close()


def test_a_different_rebuild_shows_in_digest_and_diff(tmp_path: Path) -> None:
    live = ev.open_live(tmp_path)
    p0, _ = _interleaved(live)
    gens, number = _rebuild(tmp_path, live, [p0])
    assert gens.digest(number, COVERED) != gens.digest(LIVE, COVERED)
    (diff,) = gens.diff(number, COVERED)
    assert (diff.added, diff.removed, diff.changed) == (0, 5, 0)
    live.close()


def test_staged_leaves_wait_for_the_swap(tmp_path: Path) -> None:
    live = ev.open_live(tmp_path)
    ev.fill(live, [4])
    gens, number = _rebuild(tmp_path, live, [ev.evidence_batch(4)])
    shadow = Ledger(gens.directory(number), ev.keys(tmp_path))
    try:
        assert shadow.size == 0 and len(shadow.event_ids()) == 4
        assert not (gens.directory(number) / CHECKPOINT).exists()
    finally:
        shadow.close()
    live.close()


# --- the plane as the registry lists it ------------------------------------------------


def test_make_plane_opens_the_live_generation_and_its_generations(tmp_path: Path) -> None:
    import sinks.evidence

    assert sorted(sinks.evidence.__all__) == [
        "ArtifactNotFoundError",
        "ChronicleError",
        "ChronicleSettings",
        "LedgerIntegrityError",
        "TamperedArtifactError",
        "check_digest",
        "make_plane",
    ]
    plane = sinks.evidence.make_plane(ChronicleSettings(), tmp_path)
    assert plane.name == plane.projection.name == "evidence"
    assert plane.projection.reads == frozenset({"evidence.recorded"})
    assert plane.rebuildable and plane.generations is not None
    store = plane.open_store()
    try:
        assert isinstance(store, EvidenceStore)
        assert store.ledger.directory == live_dir(ev.root_of(tmp_path))
        gens = plane.generations(store)
        assert isinstance(gens, EvidenceGenerations)
        assert gens.projection_name == "evidence" and gens.base == ev.root_of(tmp_path)
    finally:
        store.close()


def test_importing_the_plane_loads_no_signing_library() -> None:
    # proofstream.settings imports sinks.evidence on the producer side
    import subprocess
    import sys

    code = (
        "import sys, sinks.evidence; prefixes = ('cryptography', 'sinks.evidence.');"
        " print(sorted(m for m in sys.modules if m.startswith(prefixes)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['sinks.evidence.errors', 'sinks.evidence.settings']"
