"""Conformance: the evidence log, checked by a verifier others wrote.

``tests/tlog_verifier`` is a small Go program on golang.org/x/mod's ``sumdb/note``
and ``sumdb/tlog`` (the Go checksum database's own client code) and
transparency-dev's ``formats`` and ``merkle``. From the log's static files alone
it verifies the checkpoint's signature, every tile it reads against the signed
root, every entry and its inclusion proof, and the consistency with an older
checkpoint. Here it runs on a log built from the demo workload's evidence through
the runtime's decode step, and must reject a tampered tile, a forged checkpoint
and a fork.

The binary is built once per source version into ``~/.cache/proofstream/`` (Go
modules come through the module proxy into Go's own module cache, reused across
runs; ``go.sum`` pins them). A missing Go toolchain fails the test: it never skips.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sinks.evidence.ledger import CHECKPOINT, HISTORY
from sinks.evidence.signing import Checkpoint, Signer
from sinks.evidence.store import EvidenceStore
from sinks.evidence.tiles import tile_path
from sinks.evidence.verify import LogVerifier
from tests.contract import evidence_support as ev

pytestmark = pytest.mark.go

SOURCE = Path(__file__).parent.parent / "tlog_verifier"


@pytest.fixture(scope="session")
def tlogverify() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "the tlog conformance test needs the Go toolchain (1.26) on PATH", pytrace=False
        )
    files = sorted([*SOURCE.glob("*.go"), SOURCE / "go.mod", SOURCE / "go.sum"])
    version = hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in files))
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    binary = cache / "proofstream" / "tlog-verifier" / version.hexdigest()[:16] / "tlogverify"
    if not binary.is_file():
        binary.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false", "GOTOOLCHAIN": "local"}
        built = subprocess.run(
            [go, "build", "-o", f"{binary}.tmp", "."],
            cwd=SOURCE,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert built.returncode == 0, built.stderr
        os.replace(f"{binary}.tmp", binary)
    return binary


class DemoLog(NamedTuple):
    directory: Path
    vkey: str
    leaves: int
    old_size: int


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> DemoLog:
    """The live log after the demo workload's evidence, one checkpoint per batch."""
    state = tmp_path_factory.mktemp("demo")
    store = ev.open_live(state)
    leaves = 0
    try:
        for batch in ev.demo_batches(runs=400):
            ev.apply(store, batch)
            leaves += len(batch.events)
            store.flush()
        sizes = [record.size for record in store.ledger.checkpoints()]
        directory = store.ledger.directory
    finally:
        store.close()
    assert leaves > 300 and len(sizes) > 10  # more than a full tile, many checkpoints
    # an older checkpoint whose partial tiles were since replaced by full ones
    old = next(size for size in sizes if size > 100 and size % 256)
    return DemoLog(directory, ev.keys(state).trusted.vkey, leaves, old)


def run(binary: Path, log: Path, vkey: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), "-log", str(log), "-vkey", vkey, *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def mirror(log: DemoLog, target: Path) -> Path:
    return ev.copy_log(log.directory, target)


def test_the_go_verifier_accepts_the_demo_log(tlogverify: Path, demo_log: DemoLog) -> None:
    old = demo_log.directory / HISTORY / str(demo_log.old_size)
    result = run(tlogverify, demo_log.directory, demo_log.vkey, "-old", str(old))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["leaves_verified"] == summary["size"] == demo_log.leaves
    assert summary["consistent_with"] == demo_log.old_size
    assert summary["origin"] == "fractalops.io/chronicle"
    # and our own verifier agrees on the same files
    verifier = LogVerifier(demo_log.directory, ev.keys(demo_log.directory.parent).trusted)
    latest = verifier.latest().checkpoint
    assert base64.b64decode(summary["root"]) == latest.root
    assert verifier.audit_tiles(latest) == demo_log.leaves


def test_every_published_checkpoint_passes_on_a_copied_log(
    tlogverify: Path, demo_log: DemoLog, tmp_path: Path
) -> None:
    log = mirror(demo_log, tmp_path / "mirror")
    sizes = sorted(int(p.name) for p in (log / HISTORY).iterdir())
    for size in sizes[:: max(1, len(sizes) // 6)]:
        result = run(tlogverify, log, demo_log.vkey, "-checkpoint", str(log / HISTORY / str(size)))
        assert result.returncode == 0, (size, result.stderr)
        assert json.loads(result.stdout)["leaves_verified"] == size


def test_a_tampered_tile_is_rejected(tlogverify: Path, demo_log: DemoLog, tmp_path: Path) -> None:
    log = mirror(demo_log, tmp_path / "mirror")
    tile = log / tile_path(0, 0)
    raw = bytearray(tile.read_bytes())
    raw[100] ^= 0x40
    tile.write_bytes(bytes(raw))
    result = run(tlogverify, log, demo_log.vkey)
    assert result.returncode == 1 and "REJECTED" in result.stderr, result.stdout


def test_a_tampered_entry_is_rejected(tlogverify: Path, demo_log: DemoLog, tmp_path: Path) -> None:
    log = mirror(demo_log, tmp_path / "mirror")
    bundle = log / tile_path("entries", 0)
    bundle.write_bytes(bundle.read_bytes().replace(b"browser_proof", b"browser_proog", 1))
    result = run(tlogverify, log, demo_log.vkey)
    assert result.returncode == 1 and "does not hash to its leaf" in result.stderr


def test_a_forged_checkpoint_is_rejected(
    tlogverify: Path, demo_log: DemoLog, tmp_path: Path
) -> None:
    log = mirror(demo_log, tmp_path / "mirror")
    genuine = (log / CHECKPOINT).read_bytes()
    origin, size, _ = genuine.decode().split("\n")[:3]
    impostor = Signer(origin, Ed25519PrivateKey.generate())  # the log's name, another key
    (log / CHECKPOINT).write_bytes(impostor.sign(Checkpoint(origin, int(size), bytes(32))))
    result = run(tlogverify, log, demo_log.vkey)
    assert result.returncode == 1 and "REJECTED" in result.stderr
    lines = genuine.split(b"\n")
    lines[1] = str(int(size) - 1).encode()  # the genuine signature on another tree size
    (log / CHECKPOINT).write_bytes(b"\n".join(lines))
    result = run(tlogverify, log, demo_log.vkey)
    assert result.returncode == 1 and "REJECTED" in result.stderr


def test_a_fork_is_rejected(tlogverify: Path, demo_log: DemoLog, tmp_path: Path) -> None:
    # the log's own key signs a second history that agrees only on a prefix
    state = demo_log.directory.parent
    fork = EvidenceStore.open(tmp_path / "fork", ev.keys(state))
    try:
        leaves = ev.demo_leaves(runs=400)
        fork.write(leaves[:100], {("fork", 0): 0})
        fork.flush()
        fork.write(leaves[:99:-1], {("fork", 0): 1})  # the rest, in another order
        fork.flush()
    finally:
        fork.close()
    assert run(tlogverify, tmp_path / "fork", demo_log.vkey).returncode == 0  # valid alone
    seen = demo_log.directory / HISTORY / str(demo_log.old_size)
    result = run(tlogverify, tmp_path / "fork", demo_log.vkey, "-old", str(seen))
    assert result.returncode == 1 and "not consistent" in result.stderr, result.stdout
