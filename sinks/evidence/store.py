"""``EvidenceStore``: the evidence plane's store, live or a shadow generation.

Contract (:mod:`sinks.store`, checked by the store contract suite):

- ``write(leaves, upto)`` buffers the leaves whose ``event_id`` is in neither the
  log nor the buffer (idempotent on ``event_id``); nothing is written yet.
- ``flush()`` publishes them: the live store appends them to the log, writes the
  tiles that changed and a new signed checkpoint, then records the watermark
  (:meth:`sinks.evidence.ledger.Ledger.commit`, durable on return). A shadow
  store (``staged=True``) stages them with the watermark in one transaction;
  replay sequences them when it swaps the generation in
  (:mod:`sinks.evidence.generations`).
- A flush that fails keeps the buffer; calling it again finishes the work.

The same class serves live (``<root>``, or the generation the ``current`` pointer
names) and every generation (``<root>/generations/g<N>``). Artifacts and the
signing key are shared by all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sinks.base import Watermark
from sinks.directories import live_dir
from sinks.evidence.ledger import Ledger
from sinks.evidence.projection import LedgerLeaf
from sinks.evidence.settings import ChronicleSettings
from sinks.evidence.signing import LogKeys, log_keys
from sinks.store import StoreBase

__all__ = ["EvidenceStore"]


class EvidenceStore(StoreBase[Sequence[LedgerLeaf]]):
    """The Chronicle transparency log as a store (see the module docstring)."""

    def __init__(self, ledger: Ledger, *, name: str = "evidence", staged: bool = False) -> None:
        super().__init__(name)
        self._ledger = ledger
        self._staged = staged
        self._buffer: list[LedgerLeaf] = []
        self._buffered: set[str] = set()

    @classmethod
    def open(
        cls,
        directory: Path,
        keys: LogKeys,
        *,
        name: str = "evidence",
        staged: bool = False,
        clock: Callable[[], int] | None = None,
    ) -> EvidenceStore:
        """The store on the log in ``directory`` (created if new; finishes an
        interrupted flush, migrates a legacy ledger once)."""
        ledger = Ledger(directory, keys, name=name, **({"clock": clock} if clock else {}))
        return cls(ledger, name=name, staged=staged)

    @classmethod
    def open_live(
        cls,
        settings: ChronicleSettings,
        state_dir: Path,
        *,
        name: str = "evidence",
        clock: Callable[[], int] | None = None,
    ) -> EvidenceStore:
        """The live store: the generation the ``current`` pointer names under the
        Chronicle root (the root itself before any swap). Generates the signing key
        on first use."""
        keys = log_keys(settings, state_dir)
        return cls.open(live_dir(settings.resolve_root(state_dir)), keys, name=name, clock=clock)

    @property
    def ledger(self) -> Ledger:
        """The open ledger (for readers: checkpoints, order, entries)."""
        self._check_open()
        return self._ledger

    @property
    def staged(self) -> bool:
        return self._staged

    def _apply(self, writes: Sequence[LedgerLeaf]) -> None:
        for leaf in writes:
            if leaf.event_id not in self._buffered and not self._ledger.known(leaf.event_id):
                self._buffered.add(leaf.event_id)
                self._buffer.append(leaf)

    def _persist(self, marks: Watermark) -> None:
        if self._staged:
            self._ledger.stage(self._buffer, marks)
        else:
            self._ledger.commit(self._buffer, marks)
        self._buffer = []
        self._buffered = set()

    def _load_watermark(self) -> Watermark:
        return self._ledger.watermark()

    def _release(self) -> None:
        self._ledger.close()
