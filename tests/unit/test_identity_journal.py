"""The identity store's journal keeps exactly its acknowledged blocks: a torn or
corrupt tail ends what is read, a failed append leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.identity.journal import Journal

A = b'<https://x/a> <https://x/p> "1" <https://x/g> .\n'
B = b'<https://x/b> <https://x/p> "2" <https://x/g> .\n'


def test_blocks_are_read_back_as_n_quads(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.nq")
    journal.append(A)
    journal.append(B)
    data = journal.read()
    assert data.startswith(b"# block %d " % len(A)) and data.endswith(B)
    assert [line for line in data.splitlines() if not line.startswith(b"#")] == [A[:-1], B[:-1]]
    assert journal.size == len(data)
    journal.close()
    reopened = Journal(tmp_path / "j.nq")
    assert reopened.read() == data  # reopened: appends continue
    reopened.close()


@pytest.mark.parametrize(
    "tail",
    [b"# block 999 1\n<https://x/c>", b"\x00" * 64, b"# block 3 0\nxyz", b"# blo"],
    ids=["cut short", "zeros", "bad checksum", "torn header"],
)
def test_a_torn_or_corrupt_tail_ends_what_is_read(tmp_path: Path, tail: bytes) -> None:
    journal = Journal(tmp_path / "j.nq")
    journal.append(A)
    good = journal.read()
    journal.close()
    with open(tmp_path / "j.nq", "ab") as raw:
        raw.write(tail)
    reopened = Journal(tmp_path / "j.nq")
    assert reopened.read() == good
    reopened.close()


def test_a_failed_append_is_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "j.nq")
    journal.append(A)
    good = journal.read()

    def fail(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("sinks.identity.journal.os.fsync", fail)
    with pytest.raises(OSError):
        journal.append(B)
    monkeypatch.undo()
    assert (tmp_path / "j.nq").read_bytes() == good
    journal.append(B)  # and the next block follows the last good one
    assert journal.read().endswith(B) and journal.read().count(b"# block") == 2
    journal.close()


def test_clear_empties_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.nq")
    journal.append(A)
    journal.clear()
    assert (journal.size, journal.read()) == (0, b"")
    journal.append(B)
    assert journal.read().endswith(B) and journal.read().count(b"# block") == 1
    journal.close()
