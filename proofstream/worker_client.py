"""Talks to a running worker's HTTP API (see ``processors.worker``)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from proofstream.settings import Settings
from schemas.errors import InvalidQueryError, SinkUnavailableError

__all__ = ["WorkerClient"]


class WorkerClient:
    """The worker for *this* state directory, if one runs: a worker of another state
    directory on the same port is not ours and is ignored."""

    def __init__(
        self, settings: Settings, timeout_s: float = 30.0, status_timeout_s: float = 2.0
    ) -> None:
        p = settings.processors
        # a worker bound to every interface is still reached on loopback
        host = "127.0.0.1" if p.web_host in ("0.0.0.0", "::") else p.web_host  # noqa: S104
        self._base = f"http://{host}:{p.web_port}"
        self._headers = (
            {"Authorization": f"Bearer {p.api_token.get_secret_value()}"} if p.api_token else {}
        )
        self._state_dir = str(Path(settings.state_dir).resolve())
        self._timeout = timeout_s
        self._status_timeout = status_timeout_s

    def status(self) -> dict[str, Any] | None:
        """The worker's ``/status``, or ``None`` when no worker of ours answers."""
        try:
            request = urllib.request.Request(f"{self._base}/status", headers=self._headers)  # noqa: S310
            with urllib.request.urlopen(request, timeout=self._status_timeout) as resp:  # noqa: S310
                body: dict[str, Any] = orjson.loads(resp.read())
        except (OSError, ValueError):
            return None
        if body.get("worker", {}).get("state_dir") != self._state_dir:
            return None
        return body

    def available(self) -> bool:
        return self.status() is not None

    def query(self, sql: str) -> dict[str, Any]:
        """Run read-only SQL on the worker. Raises ``InvalidQueryError`` for refused or
        failing SQL and ``SinkUnavailableError`` when the worker cannot answer."""
        request = urllib.request.Request(  # noqa: S310
            f"{self._base}/query",
            data=orjson.dumps({"sql": sql}),
            headers={"Content-Type": "application/json", **self._headers},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as resp:  # noqa: S310
                answer: dict[str, Any] = orjson.loads(resp.read())
                return answer
        except urllib.error.HTTPError as exc:
            reason = _error_of(exc)
            if exc.code == 400:
                raise InvalidQueryError(sql, reason) from exc
            raise SinkUnavailableError("worker", reason) from exc
        except OSError as exc:
            raise SinkUnavailableError("worker", f"{self._base}: {exc}") from exc


def _error_of(exc: urllib.error.HTTPError) -> str:
    try:
        return str(orjson.loads(exc.read()).get("error", exc.reason))
    except ValueError:
        return str(exc.reason)
