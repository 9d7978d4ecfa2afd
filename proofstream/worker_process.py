"""Start and stop ``proofstream run`` as a child process (the demo and the tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from proofstream.settings import Settings, settings_env
from proofstream.worker_client import WorkerClient
from schemas.errors import ProofstreamError

__all__ = ["WorkerProcess"]


class WorkerProcess:
    """One worker for ``settings.state_dir``. ``base_env`` is the environment the
    child inherits (the caller's, read in ``main``); ``settings`` are layered on top
    as ``PROOFSTREAM_*`` so the child builds the same ``Settings``."""

    def __init__(self, settings: Settings, base_env: Mapping[str, str]) -> None:
        self._settings = settings
        self._env = {**base_env, **settings_env(settings)}
        self._client = WorkerClient(settings)
        self.log_file = Path(settings.state_dir).resolve() / "worker.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout_s: float = 120.0, probe: Callable[[], bool] | None = None) -> None:
        """Spawn the worker and wait until its API answers for this state dir (or
        ``probe`` says it is ready).

        Raises ``ProofstreamError`` with the tail of the worker log if it exits or
        does not answer in time."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "proofstream", "run"],
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ProofstreamError(f"the worker exited early:\n{self._tail()}")
            if (probe or self._client.available)():
                return
            time.sleep(0.2)
        self.kill()
        raise ProofstreamError(
            f"the worker did not answer within {timeout_s:.0f}s:\n{self._tail()}"
        )

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM (graceful: the current batch finishes or stays uncommitted), then
        SIGKILL after ``timeout_s``. Returns the exit code."""
        if self._proc is None or self._proc.poll() is not None:
            return None if self._proc is None else self._proc.returncode
        self._proc.send_signal(signal.SIGTERM)
        try:
            return self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return self._proc.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests use it for kill -9 recovery)."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(30)

    def _tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no worker log)"
