"""The server's side of the worker processes: jobs waiting their turn, handed one at a time to
each idle worker, cancelled, and the workers' reports passed on.

Workers are spawned processes (``--workers N``, default 1) that stay up between jobs, so a run
does not pay for importing torch and the plugins. A thread reads their reports and hands each
to ``on_event``; when a worker dies (killed, out of memory) its job is reported done and a new
worker takes its place.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import queue as queue_module
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable


#: A dead worker is replaced no sooner than this many seconds after it was started.
RESPAWN_SECONDS = 5.0


@dataclass
class Slot:
    index: int
    process: Any = None
    inbox: Any = None
    ready: bool = False
    #: The id of the job it is running, else None.
    job: str | None = None
    spawned: float = field(default_factory=time.monotonic)


class RunQueue:
    def __init__(self, workers: int, on_event: Callable[[dict], None]):
        self.workers = workers
        self.on_event = on_event
        self._context = multiprocessing.get_context("spawn")  # never fork a threaded server
        self._events = self._context.Queue()
        self._pending: collections.deque[dict] = collections.deque()
        self._slots = [Slot(i) for i in range(workers)]
        self._lock = threading.RLock()
        self._stopping = False
        self._pump: threading.Thread | None = None
        cores = os.cpu_count() or 1
        #: torch threads per worker: the cores shared out, so N workers do not fight over them.
        self.threads = max(1, cores // max(1, workers)) if workers > 1 else None

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        for slot in self._slots:
            self._spawn(slot)
        self._pump = threading.Thread(target=self._pump_events, name="studio-events", daemon=True)
        self._pump.start()

    def _spawn(self, slot: Slot) -> None:
        from . import worker

        slot.inbox = self._context.Queue()
        slot.ready, slot.job, slot.spawned = False, None, time.monotonic()
        slot.process = self._context.Process(
            target=worker.main, args=(slot.index, slot.inbox, self._events, self.threads),
            name=f"pixengine-studio-worker-{slot.index}", daemon=True,
        )
        slot.process.start()

    def stop(self, timeout: float) -> None:
        """Stop every running job as Ctrl-C would (they keep their image and checkpoint), wait
        up to ``timeout`` seconds for them to write it, then end the workers."""
        with self._lock:
            self._stopping = True
            slots = list(self._slots)
        for slot in slots:
            if slot.process is not None and slot.process.is_alive():
                try:
                    slot.inbox.put(("stop", None))
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + timeout
        for slot in slots:
            if slot.process is not None:
                slot.process.join(max(0.1, deadline - time.monotonic()))
                if slot.process.is_alive():
                    slot.process.terminate()
                    slot.process.join(5)
        if self._pump is not None:
            self._pump.join(timeout=5)
        for channel in [self._events, *(slot.inbox for slot in slots if slot.inbox is not None)]:
            channel.close()
            channel.join_thread()

    # -- jobs ----------------------------------------------------------------------------------

    def submit(self, job: dict) -> None:
        with self._lock:
            self._pending.append(job)
        self._dispatch()

    def cancel(self, job_id: str) -> str | None:
        """"removed" (it was waiting), "stopping" (a worker is stopping it), or None (unknown)."""
        with self._lock:
            for job in self._pending:
                if job["id"] == job_id:
                    self._pending.remove(job)
                    return "removed"
            for slot in self._slots:
                if slot.job == job_id:
                    slot.inbox.put(("cancel", job_id))
                    return "stopping"
        return None

    def position(self, job_id: str) -> int | None:
        """0 for a running job, 1 for the next to run, ...; None when it is not in the queue."""
        with self._lock:
            if any(slot.job == job_id for slot in self._slots):
                return 0
            for number, job in enumerate(self._pending, start=1):
                if job["id"] == job_id:
                    return number
        return None

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "running": [slot.job for slot in self._slots if slot.job],
                "pending": [job["id"] for job in self._pending],
                "workers": sum(1 for slot in self._slots if slot.ready),
            }

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [slot.process.pid for slot in self._slots if slot.process is not None and slot.process.is_alive()]

    def _dispatch(self) -> None:
        started = []
        with self._lock:
            if self._stopping:
                return
            for slot in self._slots:
                if slot.ready and slot.job is None and self._pending:
                    job = self._pending.popleft()
                    slot.job = job["id"]
                    slot.inbox.put(("job", job))
                    started.append(job["id"])
        for job_id in started:
            self.on_event({"type": "dispatched", "job": job_id})

    # -- the workers' reports ------------------------------------------------------------------

    def _pump_events(self) -> None:
        while True:
            with self._lock:
                stopping = self._stopping
                alive = any(slot.process is not None and slot.process.is_alive() for slot in self._slots)
            if stopping and not alive:
                self._drain()
                return
            try:
                event = self._events.get(timeout=0.5)
            except queue_module.Empty:
                self._check_workers()
                continue
            except (EOFError, OSError, ValueError):
                return
            self._handle(event)

    def _drain(self) -> None:
        while True:
            try:
                self._handle(self._events.get_nowait())
            except (queue_module.Empty, EOFError, OSError, ValueError):
                return

    def _handle(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "ready":
            with self._lock:
                self._slots[event["worker"]].ready = True
        elif kind == "done":
            with self._lock:
                slot = self._slots[event["worker"]]
                if slot.job == event["job"]:
                    slot.job = None
        try:
            self.on_event(event)
        finally:
            if kind in ("ready", "done"):
                self._dispatch()

    def _check_workers(self) -> None:
        """A worker that died is replaced (at most once per :data:`RESPAWN_SECONDS`, so a
        worker that cannot start does not spin); its job is reported done first (the folder
        tells how it ended), so the job never looks finished before its reason is recorded."""
        with self._lock:
            if self._stopping:
                return
            dead = [slot for slot in self._slots
                    if slot.process is not None and not slot.process.is_alive()
                    and time.monotonic() - slot.spawned >= RESPAWN_SECONDS]
        for slot in dead:
            if slot.job is not None:
                self.on_event({"type": "done", "job": slot.job, "worker": slot.index, "outcome": "crashed",
                               "error": f"the worker process died (exit code {slot.process.exitcode}) while running this job"})
            with self._lock:
                if not self._stopping:
                    self._spawn(slot)
