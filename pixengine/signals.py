"""Moments a run must not be interrupted in: writing its last image and checkpoint, and
committing a step (the optimiser's update, the step count and the random state change
together, or a checkpoint taken at the interruption would resume a different run). A Ctrl-C
(or SIGTERM) arriving then is held until the moment is over, and delivered afterwards."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def interrupts_deferred(doing: str | None = None) -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the ``with`` block (main thread only: signal handlers can
    only be set there), then raise KeyboardInterrupt if one arrived. ``doing``, when given, is
    said at once when a signal is held (for waits a person would notice)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum, frame):
        if not received and doing:
            print(f"\n{doing}", file=sys.stderr)
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        handler = previous[received[0]]
        if callable(handler):  # the CLI's SIGTERM handler raises its own kind of interrupt
            handler(received[0], None)
        raise KeyboardInterrupt
