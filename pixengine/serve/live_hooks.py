"""The lifecycle hooks a studio worker registers (``pixengine.plugins.register``) to report its
run to the server: each step's losses and seconds, and the image as it evolves.

The hooks run in the optimisation loop, so they only copy: the step's record, and the image as
8-bit pixels at most every :data:`IMAGE_INTERVAL` seconds (and always the last). A sender thread
PNG-encodes images and batches records into one message per :data:`SEND_INTERVAL`, so a run of
2 ms steps costs the loop almost nothing and the server is not flooded.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from typing import Any

import pixengine

PIXENGINE_API = "1.1"
#: Seconds between images sent while a run is going (slower steps send every step's image).
IMAGE_INTERVAL = 0.1
#: Seconds between progress messages (records since the last one travel together).
SEND_INTERVAL = 0.05

#: The reporter of the job this process is running, set by the worker (None between jobs).
reporter: "Reporter | None" = None


@pixengine.hookimpl
def on_run_start(run):
    if reporter is not None:
        reporter.run_started(run)


@pixengine.hookimpl
def on_step(run, step, image, losses):
    if reporter is not None:
        reporter.step(run, step, image, losses)
        if reporter.stop_requested.is_set():
            # Cancel: what Ctrl-C between two steps does (the engine keeps image and checkpoint).
            raise KeyboardInterrupt


@pixengine.hookimpl
def on_run_end(run, result):
    if reporter is not None:
        reporter.run_ended(run, result)


class Reporter:
    """Reports one job's run on ``events`` (a multiprocessing queue to the server)."""

    def __init__(self, job_id: str, events: Any):
        self.job_id = job_id
        self.events = events
        self._items: queue.Queue = queue.Queue()
        self._last_image = 0.0
        #: Set by the worker to cancel the run: the next on_step raises KeyboardInterrupt.
        self.stop_requested = threading.Event()
        #: Whether the run has started stepping (before that, cancel interrupts the build).
        self.stepping = False
        self._thread = threading.Thread(target=self._send_loop, name="studio-reporter", daemon=True)
        self._thread.start()

    # -- called in the run's thread ---------------------------------------------------------

    def send(self, event: dict) -> None:
        """An event that must reach the server after every progress reported before it."""
        self._items.put(("event", {**event, "job": self.job_id}))

    def run_started(self, run) -> None:
        self.stepping = True
        width, height = run.size
        self.send({"type": "run_start", "step": run.step, "steps": run.steps, "width": width, "height": height,
                   "folder": str(run.output_dir)})

    def step(self, run, step: int, image, losses: dict[str, float]) -> None:
        at = time.time()
        history = run.history
        seconds = history[-1].get("seconds") if history else None
        record = {"step": step, "steps": run.steps, "total": losses.get("total"),
                  "losses": {k: v for k, v in losses.items() if k != "total"}, "seconds": seconds, "at": at}
        self._items.put(("record", record))
        if at - self._last_image >= IMAGE_INTERVAL or step >= run.steps:
            from ..images import tensor_to_pil

            self._last_image = at
            self._items.put(("image", (step, tensor_to_pil(image), at)))

    def run_ended(self, run, result) -> None:
        if result.image is not None:
            self._items.put(("image", (run.step, result.image, time.time())))
        self.send({"type": "run_end", "status": result.status, "step": run.step, "steps": run.steps})

    def close(self) -> None:
        """Send everything reported so far, then stop the sender thread."""
        self._items.put(("close", None))
        self._thread.join(timeout=30)

    # -- the sender thread --------------------------------------------------------------------

    def _send_loop(self) -> None:
        records: list[dict] = []
        image = None
        last_sent = 0.0
        while True:
            try:
                kind, payload = self._items.get(timeout=SEND_INTERVAL)
            except queue.Empty:
                kind, payload = None, None
            if kind == "record":
                records.append(payload)
            elif kind == "image":
                image = payload  # only the newest image matters
            pending = records or image is not None
            due = time.time() - last_sent >= SEND_INTERVAL
            if pending and (kind in ("event", "close") or (due and self._items.empty())):
                self._send_progress(records, image)
                records, image, last_sent = [], None, time.time()
            if kind == "event":
                self.events.put(payload)
            elif kind == "close":
                return

    def _send_progress(self, records: list[dict], image) -> None:
        message = {"type": "progress", "job": self.job_id, "records": records, "image": None}
        if image is not None:
            step, picture, at = image
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG", compress_level=1)
            message.update(image=buffer.getvalue(), image_step=step, image_at=at)
        self.events.put(message)
