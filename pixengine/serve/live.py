"""Live state of the runs the workers are running, and its fan-out to the page.

The worker-event thread :meth:`LiveHub.publish` es; each server-sent event stream is an
asyncio queue the hub feeds through the event loop (``call_soon_threadsafe``). A stream that
falls behind loses intermediate progress messages, never the last state: each message carries
the step, the latest losses and the newest image.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Any

#: Step records kept per live run for its loss chart (older ones are thinned out).
MAX_RECORDS = 5000
#: Messages a stream may have waiting before intermediate ones are dropped.
STREAM_BACKLOG = 64
#: Steps whose seconds average into "seconds per step".
RATE_WINDOW = 10


@dataclass
class LiveRun:
    id: str
    status: str = "queued"
    step: int = 0
    steps: int = 0
    total: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)
    image: bytes | None = None
    image_step: int | None = None
    image_at: float | None = None
    width: int | None = None
    height: int | None = None

    def seconds_per_step(self) -> float | None:
        times = [r["seconds"] for r in self.records[-RATE_WINDOW:] if r.get("seconds") is not None]
        return sum(times) / len(times) if times else None

    def eta(self) -> float | None:
        rate = self.seconds_per_step()
        return None if rate is None else max(0, self.steps - self.step) * rate

    def add(self, records: list[dict]) -> None:
        self.records.extend(records)
        if len(self.records) > MAX_RECORDS:
            self.records = self.records[::2]  # keeps the chart's shape, halves its memory
        if records:
            last = records[-1]
            self.step, self.steps = last["step"], last.get("steps") or self.steps
            self.total, self.losses = last.get("total"), last.get("losses") or {}

    def progress(self, records: list[dict], with_image: bool) -> dict:
        message = {"id": self.id, "status": self.status, "step": self.step, "steps": self.steps, "total": self.total,
                   "losses": self.losses, "seconds_per_step": self.seconds_per_step(), "eta": self.eta(),
                   "records": records, "width": self.width, "height": self.height}
        if with_image and self.image is not None:
            message.update(image=data_url(self.image), image_step=self.image_step, image_at=self.image_at)
        return message


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class Stream:
    """One server-sent event stream's queue of ``(event name, data)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, run_id: str | None):
        self.loop = loop
        self.run_id = run_id
        self.queue: asyncio.Queue = asyncio.Queue()

    def put(self, event: str, data: Any) -> None:
        """Called in the event loop."""
        if self.queue.qsize() >= STREAM_BACKLOG and event == "progress":
            return  # a later message carries the state; the page catches up from it
        self.queue.put_nowait((event, data))


class LiveHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, LiveRun] = {}
        self._streams: set[Stream] = set()
        self._last_global: dict[str, float] = {}

    # -- state -----------------------------------------------------------------------------

    def get(self, run_id: str) -> LiveRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def start(self, run_id: str, status: str = "queued", steps: int = 0) -> LiveRun:
        with self._lock:
            live = self._runs.setdefault(run_id, LiveRun(run_id))
            live.status, live.steps = status, steps or live.steps
            return live

    def finish(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)
            self._last_global.pop(run_id, None)

    # -- streams ---------------------------------------------------------------------------

    def open(self, run_id: str | None) -> Stream:
        """A stream of one run's events (``run_id``), or of every run's changes (None)."""
        stream = Stream(asyncio.get_running_loop(), run_id)
        with self._lock:
            self._streams.add(stream)
        return stream

    def close(self, stream: Stream) -> None:
        with self._lock:
            self._streams.discard(stream)

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._streams)

    def send_run(self, run_id: str, event: str, data: Any) -> None:
        """Send to the streams of one run, from any thread."""
        self._send([s for s in self._all() if s.run_id == run_id], event, data)

    def send_global(self, event: str, data: Any, *, throttle_key: str | None = None, throttle: float = 0.0) -> None:
        """Send to every global stream, from any thread; with ``throttle``, at most one message
        per ``throttle_key`` per that many seconds (progress of a fast run)."""
        if throttle and throttle_key is not None:
            now = time.monotonic()
            with self._lock:
                if now - self._last_global.get(throttle_key, 0.0) < throttle:
                    return
                self._last_global[throttle_key] = now
        self._send([s for s in self._all() if s.run_id is None], event, data)

    def _all(self) -> list[Stream]:
        with self._lock:
            return list(self._streams)

    def _send(self, streams: list[Stream], event: str, data: Any) -> None:
        for stream in streams:
            try:
                stream.loop.call_soon_threadsafe(stream.put, event, data)
            except RuntimeError:  # its loop has closed
                self.close(stream)
