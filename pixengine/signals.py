"""Moments a run must not be interrupted in: writing its last image and checkpoint. A second
Ctrl-C (or SIGTERM) arriving then is held until the files are whole, with a word to say so,
and delivered afterwards."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def interrupts_deferred(doing: str) -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the ``with`` block (main thread only: signal handlers can
    only be set there), then raise KeyboardInterrupt if one arrived."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum, frame):
        if not received:
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
