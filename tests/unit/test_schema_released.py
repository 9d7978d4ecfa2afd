"""Released schemas are immutable: RELEASED.json pins the sha256 of every file."""

from __future__ import annotations

import hashlib
import json

from schemas.catalog import AVRO_ROOT, LOCK_FILE


def test_every_released_file_is_unchanged() -> None:
    lock = json.loads((AVRO_ROOT / LOCK_FILE).read_text())
    assert lock, "RELEASED.json lists no file"
    for relative, digest in lock.items():
        path = AVRO_ROOT / relative
        assert path.is_file(), f"released schema {relative} was deleted"
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        assert actual == digest, f"released schema {relative} changed: add a new version instead"


def test_every_schema_file_is_released() -> None:
    lock = json.loads((AVRO_ROOT / LOCK_FILE).read_text())
    on_disk = {str(p.relative_to(AVRO_ROOT)) for p in AVRO_ROOT.glob("v*/*.avsc")}
    assert on_disk == set(lock), "pin new schema files in RELEASED.json when releasing them"
