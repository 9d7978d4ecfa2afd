"""The worker's stop signals, taken by a thread of its own (``processors.worker``).

Kept apart from the worker's hosts so that ``proofstream run`` can block the signals
before it imports them: importing numpy (through the stores' clients) already
starts a thread (OpenBLAS), and a thread started before the block would still take
SIGTERM.
"""

from __future__ import annotations

import faulthandler
import signal

__all__ = ["STOP_SIGNALS", "take_stop_signals"]

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def take_stop_signals() -> None:
    """Block SIGTERM and SIGINT in this thread, and so in every thread started after it:
    the worker's signal thread (:meth:`_Worker.listen_for_signals`) then takes them with
    ``sigwait``. Call first in the worker process, before any thread starts. A Python
    signal handler only runs when the main thread next runs Python code; a main thread
    held in a blocking call (or an event loop held by a synchronous one) left SIGTERM
    unhandled, and the shutdown deadline unarmed, for as long as it was held. Also
    makes SIGQUIT print every thread's stack to stderr (faulthandler, no GIL needed),
    for a worker that hangs."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    faulthandler.register(signal.SIGQUIT, all_threads=True)
