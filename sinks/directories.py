"""Generations of the file-based planes: directories, a registry and a ``current`` pointer.

The RDF (Oxigraph), DataHub Lite, evidence ledger and OpenLineage stores are
files or directories that their libraries lock per process, so a shadow
generation cannot live next to live data in the same store (as ClickHouse's
shadow tables do). Instead every generation is a store of its own::

    <base>/                      generation 0: the store as the sink first created it
    <base>/generations/g<N>/     generation N (N >= 1), built by replay
    <base>/generations/current   symlink to g<N> once a generation was swapped in
    <base>/generations/registry.json   status, covered range, digest, lineage per N

``<base>`` is the directory a plane's sink opens when no generation was ever
swapped in (``<state_dir>/rdf``, ``<state_dir>/datahub``, the Chronicle root,
``<state_dir>/openlineage``). A sink's ``open`` resolves the live generation
with :func:`live_dir`, so the pointer is the single source of truth for which
generation is live; the registry is reconciled with it on every read (a crash
between the pointer switch and the registry write cannot leave two live ones).

- ``swap`` replaces the pointer atomically (``symlink`` to a temporary name,
  then ``os.replace``, then fsync of the directory): a process opening the store
  sees the old or the new generation, never a mix. Processes that already hold
  the old store open keep reading it until they reopen.
- ``drop`` removes a generation's directory (generation 0: only the plane's own
  store files in ``<base>``, via a hook); it refuses the live generation.
- The registry is written whole, atomically (write, fsync, rename). One writer at
  a time: the replay CLI refuses to run while a worker owns the state dir.

:class:`DirectoryGenerations` implements every :class:`~sinks.generations.Rebuildable`
method that is about bookkeeping; a plane subclass adds the store-specific
``open_shadow``, ``digest``, ``diff`` and the hooks, built from the pure helpers
of :mod:`sinks.digests`.
"""

from __future__ import annotations

import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar

import orjson

from schemas.durable import atomic_write, fsync_dir
from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import Store, Watermark
from sinks.generations import LIVE, Digest, Generation, GenerationStatus, LogRange, TableDiff

__all__ = [
    "GENERATIONS_DIR",
    "POINTER",
    "REGISTRY",
    "ConfinedStore",
    "DirectoryGenerations",
    "live_dir",
]

GENERATIONS_DIR: Final = "generations"
POINTER: Final = "current"
REGISTRY: Final = "registry.json"


def live_dir(base: Path) -> Path:
    """The directory of the live generation of a plane whose generation 0 is ``base``.

    ``<base>/generations/current`` resolved when a generation was swapped in, else
    ``base`` itself (existing behaviour). Raises :class:`ConfigError` when the
    pointer dangles (its generation's directory was removed by hand).
    """
    pointer = Path(base) / GENERATIONS_DIR / POINTER
    if not pointer.is_symlink():
        return Path(base)
    target = pointer.resolve()
    if not target.is_dir():
        raise ConfigError(f"{pointer} points at {target}, which does not exist")
    return target


W = TypeVar("W")
T = TypeVar("T")


class ConfinedStore(Generic[W]):
    """A store opened, used and closed on one thread of its own.

    SQLite connections (DataHub Lite, the ledger, lineage's ``state.db``) may only
    be used on the thread that opened them, while ``replay`` opens a shadow on its
    own thread, writes it on a writer thread and closes it on the first. This
    wrapper runs ``open_`` and every call on a private single thread, so the
    wrapped store never sees another one. ``close`` closes it and ends the thread.
    """

    def __init__(self, open_: Callable[[], Store[W]], name: str) -> None:
        self._name = name
        self._closed = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"shadow-{name}")
        try:
            self._store = self._thread.submit(open_).result()
        except BaseException:
            self._thread.shutdown()
            raise

    @property
    def name(self) -> str:
        return self._name

    def write(self, writes: W, upto: Mapping[tuple[str, int], int]) -> None:
        self._call(self._store.write, writes, upto)

    def flush(self) -> None:
        self._call(self._store.flush)

    def watermark(self) -> Watermark:
        result: Watermark = self._call(self._store.watermark)
        return result

    def close(self) -> None:
        """Close the store on its thread and end the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._thread.submit(self._store.close).result()
        finally:
            self._thread.shutdown()

    def run(self, fn: Callable[[Store[W]], T]) -> T:
        """``fn(store)`` on the store's own thread: how a caller reads what the plane's
        store class offers beyond the protocol (tests, digests)."""
        result: T = self._call(fn, self._store)
        return result

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._closed:
            raise SinkUnavailableError(self._name, "store is closed", retry_after=0.0)
        return self._thread.submit(fn, *args).result()


def _covered_json(covered: LogRange) -> list[dict[str, Any]]:
    return [
        {"topic": t, "partition": p, "first": first, "last": last}
        for (t, p), (first, last) in sorted(covered.items())
    ]


def _covered_of(items: Sequence[Mapping[str, Any]]) -> LogRange:
    return {
        (str(i["topic"]), int(i["partition"])): (int(i["first"]), int(i["last"])) for i in items
    }


class DirectoryGenerations(ABC):
    """Bookkeeping half of :class:`~sinks.generations.Rebuildable` for a plane whose
    generations are directories under ``base`` (see the module docstring).

    Subclasses implement :meth:`open_shadow`, :meth:`digest`, :meth:`diff` and
    :meth:`_remove_base` (delete generation 0's store files in ``base``), and may
    override :meth:`_before_swap` (a precondition or a last step on the shadow).
    """

    def __init__(self, base: Path, projection_name: str) -> None:
        self._base = Path(base).resolve()
        self._name = projection_name
        self._home = self._base / GENERATIONS_DIR
        if not self._load():
            self._save(
                {"0": self._entry(GenerationStatus.LIVE, 0, note="the store as first opened")}
            )

    # --- paths ---------------------------------------------------------------------------

    @property
    def projection_name(self) -> str:
        return self._name

    @property
    def base(self) -> Path:
        """Generation 0's directory (and the parent of ``generations/``)."""
        return self._base

    def directory(self, number: int) -> Path:
        """Where generation ``number``'s store lives."""
        return self._base if number == 0 else self._home / f"g{number}"

    def live_number(self) -> int:
        """The generation the pointer names (0 when there is no pointer)."""
        target = live_dir(self._base)
        return 0 if target == self._base else int(target.name.removeprefix("g"))

    # --- the registry --------------------------------------------------------------------

    def _entry(self, status: GenerationStatus, version: int, *, note: str = "") -> dict[str, Any]:
        return {
            "status": status.value,
            "created_at_us": time.time_ns() // 1000,
            "projection_version": version,
            "covered": [],
            "digest": "",
            "lineage": {},
            "note": note,
        }

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = orjson.loads((self._home / REGISTRY).read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            raise SinkUnavailableError(
                self._name, f"generations registry unreadable: {exc}"
            ) from exc
        entries: dict[str, dict[str, Any]] = data["generations"]
        live = str(self.live_number())
        for number, entry in entries.items():
            # the pointer wins: a crash between switching it and saving the registry
            # leaves the registry one step behind, never two live generations
            if number == live:
                entry["status"] = GenerationStatus.LIVE.value
            elif entry["status"] == GenerationStatus.LIVE.value:
                entry["status"] = GenerationStatus.OLD.value
        return entries

    def _save(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        payload = orjson.dumps(
            {"projection": self._name, "generations": entries}, option=orjson.OPT_INDENT_2
        )
        try:
            atomic_write(self._home / REGISTRY, payload)
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"generations registry write: {exc}") from exc

    def _update(self, number: int, **changes: Any) -> None:
        entries = self._load()
        if str(number) not in entries:
            raise ConfigError(f"{self._name}: no generation {number}")
        entries[str(number)].update(changes)
        self._save(entries)

    def _status(self, number: int) -> GenerationStatus:
        for g in self.generations():
            if g.number == number:
                return g.status
        raise ConfigError(f"{self._name}: no generation {number}")

    def generations(self) -> Sequence[Generation]:
        """Every recorded generation of this projection, oldest first."""
        return [
            Generation(
                projection=self._name,
                number=int(number),
                status=GenerationStatus(entry["status"]),
                created_at_us=int(entry["created_at_us"]),
                projection_version=int(entry["projection_version"]),
                covered=_covered_of(entry["covered"]),
                digest=str(entry["digest"]),
                lineage=entry["lineage"],
            )
            for number, entry in sorted(self._load().items(), key=lambda kv: int(kv[0]))
        ]

    def covered_of(self, number: int) -> LogRange:
        """The log range generation ``number`` was built from (empty for generation 0)."""
        for g in self.generations():
            if g.number == number:
                return g.covered
        raise ConfigError(f"{self._name}: no generation {number}")

    # --- the port ------------------------------------------------------------------------

    def allocate(self, projection_version: int) -> int:
        """Record generation N+1 ``building`` and create its empty directory."""
        entries = self._load()
        number = max(map(int, entries), default=0) + 1
        directory = self.directory(number)
        if directory.exists():
            shutil.rmtree(directory)  # leftovers of a crash before the registry write
        directory.mkdir(parents=True)
        entries[str(number)] = self._entry(GenerationStatus.BUILDING, projection_version)
        self._save(entries)
        return number

    def _shadow_dir(self, number: int) -> Path:
        status = self._status(number)
        if status is not GenerationStatus.BUILDING:
            raise ConfigError(
                f"generation {number} is {status.value}; only a building one is written"
            )
        return self.directory(number)

    def open_shadow(self, number: int) -> Store[Any]:
        """The plane's own store class on generation ``number``'s directory only,
        confined to a thread of its own (:class:`ConfinedStore`)."""
        directory = self._shadow_dir(number)
        return ConfinedStore(lambda: self._open_shadow(number, directory), self._name)

    @abstractmethod
    def _open_shadow(self, number: int, directory: Path) -> Store[Any]:
        """Open the plane's store on generation ``number``'s ``directory``, on this thread."""

    @abstractmethod
    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest:
        """The order-independent digest of ``target`` over ``covered``."""

    @abstractmethod
    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]:
        """What generation ``number`` has that live has not, and the reverse."""

    def finish(
        self, number: int, covered: LogRange, digest: Digest, lineage: Mapping[str, Any]
    ) -> None:
        """Mark generation ``number`` built, with what it covers and its digest."""
        self._update(
            number,
            status=GenerationStatus.BUILT.value,
            covered=_covered_json(covered),
            digest=digest.value,
            lineage=dict(lineage),
        )

    def fail(self, number: int, reason: str) -> None:
        """Mark generation ``number`` failed (its directory stays until ``drop``)."""
        self._update(number, status=GenerationStatus.FAILED.value, note=reason[:2000])

    def _before_swap(self, number: int) -> None:
        """Hook: check a plane-specific precondition, or finish the shadow's store."""
        del number

    def swap(self, number: int) -> None:
        """Make built generation ``number`` live by replacing the pointer atomically.

        The previous live generation becomes ``old``. The new live store's
        watermark is the one its shadow sink recorded (the highest offset it
        applied: the covered high offset unless the range ends in skipped records).
        """
        status = self._status(number)
        if status is not GenerationStatus.BUILT:
            raise ConfigError(
                f"generation {number} is {status.value}; only a built generation can be swapped in"
            )
        self._before_swap(number)
        previous = self.live_number()
        tmp = self._home / f".{POINTER}.{os.getpid()}"
        try:
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(f"g{number}", target_is_directory=True)
            os.replace(tmp, self._home / POINTER)
            fsync_dir(self._home)
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"switching the live pointer: {exc}") from exc
        entries = self._load()  # reconciled: number is live now, previous old
        entries[str(previous)]["status"] = GenerationStatus.OLD.value
        self._save(entries)

    @abstractmethod
    def _remove_base(self) -> None:
        """Delete generation 0's store files in ``base`` (never ``generations/``)."""

    def drop(self, number: int) -> None:
        """Delete generation ``number``'s store. Refuses the live generation."""
        if number == self.live_number() or self._status(number) is GenerationStatus.LIVE:
            raise ConfigError(f"generation {number} is live and cannot be dropped")
        try:
            if number == 0:
                self._remove_base()
            else:
                shutil.rmtree(self.directory(number), ignore_errors=False)
        except FileNotFoundError:
            pass  # already gone: dropping is idempotent
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"dropping generation {number}: {exc}") from exc
        self._update(number, status=GenerationStatus.DROPPED.value)

    def _is_live(self, target: int | Literal["live"]) -> bool:
        return target == LIVE or target == self.live_number()
