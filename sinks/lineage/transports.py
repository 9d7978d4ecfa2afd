"""The openlineage-python transports the lineage store emits through.

- **file** (default): the client's ``FileTransport`` in append mode, given a file
  handler (the transport's own extension point) that *stages* each serialized
  event in memory instead of opening, appending to and closing the file per
  event. :class:`EventsFile` appends what was staged at ``flush`` in one write
  and one fsync, and can cut the file back to its last committed length: the
  file then only ever holds events whose dedupe keys ``state.db`` committed.
- **http** (Marquez, DataHub) when ``OpenLineageSettings.url`` is set:
  synchronous, one POST per event.

The transports are built directly rather than through ``OpenLineageClient``: the
client reads (and aliases) ``OPENLINEAGE_*`` environment variables and YAML
config files on construction, and the house rule is no environment reads below
``main()``. A transport is the documented plugin port (``emit`` + ``close``).

Errors are translated here: a transport failure is ``SinkUnavailableError``
(retry the batch), an event the HTTP backend refuses (400, 422) is
``PermanentError`` (dead-letter it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Final

import orjson
from openlineage.client.event_v2 import RunEvent
from openlineage.client.transport.file import FileConfig, FileHandler, FileTransport
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpConfig,
    HttpTransport,
    TokenProvider,
)
from openlineage.client.transport.transport import Transport

from schemas.durable import fsync_dir
from schemas.errors import ConfigError, PermanentError, SinkUnavailableError
from sinks.lineage.settings import OpenLineageSettings

__all__ = ["EventsFile", "StagedFileTransport", "emit", "http_transport", "read_events"]

_REJECTED: Final = frozenset({400, 422})
"""HTTP statuses that refuse the event itself: retrying it cannot succeed."""


class _Stage(FileHandler):
    """A file handler whose "file" is a list of lines, kept until drained."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def open_file(self, file_path: str, mode: str) -> _Stage:
        del file_path, mode  # one staged file: the transport's log_file_path
        return self

    def write(self, text: str) -> None:
        self.lines.append(text)

    def __enter__(self) -> _Stage:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class StagedFileTransport(FileTransport):
    """The client's file transport (append mode, its serializer, its line format),
    staging each emitted event's NDJSON line until :meth:`drain`."""

    def __init__(self, path: Path) -> None:
        self._stage = _Stage()
        self.path = path
        super().__init__(FileConfig(log_file_path=str(path), append=True))

    def _create_file_handler(self) -> FileHandler:
        return self._stage

    @property
    def staged(self) -> list[str]:
        """The lines emitted since the last :meth:`clear`, in emit order."""
        return self._stage.lines

    def clear(self) -> None:
        """Forget the staged lines (once they are durable, or on close)."""
        self._stage.lines = []


class EventsFile:
    """The NDJSON file the staged file transport's lines are appended to.

    Opened once, in append mode. ``append`` returns only when the lines are
    durable (written, fsynced; the directory too when the file is new) and
    returns the file's new length, which the store commits with the events'
    dedupe keys. ``cut(length)`` truncates anything past a committed length:
    events of a flush that crashed before its commit, which will be emitted again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self._handle: BinaryIO | None = path.open("ab")
        if fresh:
            fsync_dir(path.parent)

    @property
    def length(self) -> int:
        return self._file.tell()

    @property
    def _file(self) -> BinaryIO:
        if self._handle is None:
            raise ConfigError(f"{self.path} is closed")
        return self._handle

    def append(self, lines: list[str]) -> int:
        """Append ``lines`` durably; returns the new length. Raises ``OSError``, after
        cutting a partial write back off (the caller keeps the lines to retry)."""
        handle = self._file
        if not lines:
            return handle.tell()
        before = handle.tell()
        try:
            handle.write("".join(lines).encode())
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:
            self._recover(before)
            raise
        return handle.tell()

    def _recover(self, length: int) -> None:
        # a failed write may have left a torn line in the file and the rest in the
        # handle's buffer: drop the handle (and its buffer), cut the file back
        handle, self._handle = self._file, None
        with contextlib.suppress(OSError):
            handle.close()
        self._handle = self.path.open("ab")
        self.cut(length)

    def cut(self, length: int) -> None:
        """Truncate the file to ``length`` bytes if it is longer. Raises ``OSError``."""
        handle = self._file
        if handle.seek(0, os.SEEK_END) > length:
            handle.truncate(length)
            os.fsync(handle.fileno())
            handle.seek(0, os.SEEK_END)

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


def http_transport(settings: OpenLineageSettings) -> HttpTransport:
    """The client's HTTP transport for ``settings.url`` (bearer ``api_key`` if set)."""
    url = settings.url or ""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"OpenLineage url must be http(s): {url!r}")
    auth = (
        ApiKeyTokenProvider({"apiKey": settings.api_key.get_secret_value()})
        if settings.api_key
        else TokenProvider({})
    )
    return HttpTransport(
        HttpConfig(url=url, endpoint=settings.endpoint, timeout=settings.timeout_s, auth=auth)
    )


def emit(store: str, transport: Transport, event: RunEvent) -> None:
    """Emit ``event``, translating the transport's failures (module docstring)."""
    try:
        transport.emit(event)
    except Exception as exc:  # any transport failure: typed at this boundary
        status = _status_of(exc)
        if status in _REJECTED:
            raise PermanentError(f"{store}: OpenLineage backend refused the event: {exc}") from exc
        raise SinkUnavailableError(store, f"OpenLineage emit failed: {exc}") from exc


def _status_of(exc: BaseException) -> int | None:
    response: Any = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every event in an NDJSON file written by the file transport, in order.

    A last line without its newline is the torn tail of a crashed flush (never
    committed, cut off when the store reopens): it is not an event yet.
    """
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return
            if line.strip():
                yield orjson.loads(line)
