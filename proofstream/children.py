"""The child worker of a split ``proofstream run`` (see ``proofstream.pipeline``).

The parent starts ``proofstream run --planes <child planes> --port <port>
--with-parent`` with its own settings in the environment, restarts it when it dies
(with backoff), and stops it on shutdown (SIGTERM, then SIGKILL after the stop
timeout). The child reads its stdin, a pipe from the parent: when the pipe closes
— the parent exited, even by ``kill -9`` — the child shuts down by itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import mode

from proofstream.settings import Settings, settings_env

__all__ = ["ChildWorker", "exit_with_parent"]

log = logging.getLogger(__name__)

_BACKOFF_MAX_S = 30.0


class ChildWorker(mode.Service):
    """Supervises one child worker process (module docstring)."""

    def __init__(
        self,
        settings: Settings,
        planes: Sequence[str],
        port: int,
        base_env: Mapping[str, str],
    ) -> None:
        super().__init__()
        self._args = [
            sys.executable, "-m", "proofstream", "run",
            "--planes", ",".join(planes), "--port", str(port), "--with-parent",
        ]  # fmt: skip
        self._env = {**base_env, **settings_env(settings)}
        self._log_file = Path(settings.state_dir).resolve() / f"worker-{'+'.join(planes)}.log"
        self._stop_timeout = settings.processors.stop_timeout_s + 10.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self.restarts = 0

    async def on_start(self) -> None:
        self._spawn()

    def _spawn(self) -> None:
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._log_file.open("ab") as out:
            self._proc = subprocess.Popen(
                self._args,
                env=self._env,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        log.info("child worker %s started (pid %s)", self._args[5], self._proc.pid)

    @mode.Service.task
    async def _watch(self) -> None:
        delay = 1.0
        while not self.should_stop:
            await asyncio.sleep(1.0)
            proc = self._proc
            if proc is None or self._stopping or proc.poll() is None:
                continue
            log.error(
                "child worker exited with %s; restarting in %.0fs (log: %s)",
                proc.returncode, delay, self._log_file,
            )  # fmt: skip
            await asyncio.sleep(delay)
            if not self._stopping:
                self._spawn()
                self.restarts += 1
                delay = min(delay * 2, _BACKOFF_MAX_S)

    async def on_stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, proc.wait, self._stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            await loop.run_in_executor(None, proc.wait, 10.0)


def exit_with_parent() -> None:
    """In a child worker: SIGTERM ourselves once the parent's pipe (stdin) closes."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
