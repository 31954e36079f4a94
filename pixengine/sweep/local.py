"""Runs in worker processes on this machine (``--workers N``).

Each worker is a long-lived process (torch and the plugins load once) that takes one task at
a time over a pipe. A worker that dies mid-run (killed, out of memory) is replaced and its
task retried: the run resumes from its last checkpoint. Workers die with the driver (Linux:
the parent-death signal) and treat SIGTERM like Ctrl-C, so a killed sweep leaves resumable
run folders behind.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable
from multiprocessing.connection import wait

from . import worker as run_worker


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    if os.getppid() != parent:  # the driver died before the line above
        os._exit(1)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def worker_main(conn, parent: int, threads: int | None) -> None:
    """A worker's loop: run tasks until told to stop (None) or the pipe closes."""
    _die_with_parent(parent)
    signal.signal(signal.SIGTERM, _interrupt)
    if threads:
        import torch

        torch.set_num_threads(threads)
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        try:
            outcome = run_worker.execute(task)
        except KeyboardInterrupt:
            outcome = {"id": task["id"], "status": "interrupted", "error": None, "pid": os.getpid()}
            conn.send(outcome)
            return
        except BaseException as exc:  # a bug, not a run's failure: report it, keep the worker
            outcome = {"id": task["id"], "status": "failed", "error": f"{type(exc).__name__}: {exc}", "pid": os.getpid()}
        conn.send(outcome)


class _Worker:
    def __init__(self, context, threads: int | None):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child, os.getpid(), threads), daemon=True)
        self.process.start()
        child.close()
        self.task: dict | None = None
        self.attempt = 0


class LocalExecutor:
    """``run(tasks, on_outcome)`` on ``workers`` processes; ``close()`` stops them."""

    kind = "local"

    def __init__(self, workers: int = 1, *, threads: int | None = None, retries: int = 2):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.retries = retries
        # Several workers on few cores: one torch thread pool each, not each all cores.
        self.threads = threads if threads is not None else (max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None)
        self._context = multiprocessing.get_context("spawn")  # no fork of a driver holding torch
        self._pool: list[_Worker] = []

    def describe(self) -> str:
        return f"{self.workers} local worker process{'es' if self.workers != 1 else ''}"

    def _start(self) -> _Worker:
        worker = _Worker(self._context, self.threads)
        self._pool.append(worker)
        return worker

    def run(self, tasks: Iterable[dict], on_outcome: Callable[[dict], None]) -> None:
        pending = deque((task, 0) for task in tasks)
        while len(self._pool) < min(self.workers, len(pending)):
            self._start()
        while pending or any(w.task is not None for w in self._pool):
            for worker in self._pool:
                if worker.task is None and pending:
                    worker.task, worker.attempt = pending.popleft()
                    worker.conn.send(worker.task)
            busy = [w for w in self._pool if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                outcome = None
                if worker.conn.poll():
                    try:
                        outcome = worker.conn.recv()
                    except (EOFError, OSError):
                        outcome = None
                if outcome is not None:
                    worker.task = None
                    on_outcome(outcome)
                    if outcome.get("status") == "interrupted" and not worker.process.is_alive():
                        raise KeyboardInterrupt  # the workers were stopped with the driver
                    continue
                if worker.process.is_alive():
                    continue
                self._replace(worker, pending, on_outcome)

    def _replace(self, dead: _Worker, pending: deque, on_outcome: Callable[[dict], None]) -> None:
        """A worker died mid-task: start another, and retry the task (it resumes)."""
        task, attempt = dead.task, dead.attempt
        dead.process.join()
        code = dead.process.exitcode
        why = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        self._pool.remove(dead)
        dead.conn.close()
        if attempt < self.retries:
            print(f"sweep: worker {dead.process.pid} died ({why}) during run {task['id']}; "
                  f"retrying it from its last checkpoint (attempt {attempt + 2} of {self.retries + 1})", file=sys.stderr)
            pending.appendleft((task, attempt + 1))
        else:
            on_outcome({"id": task["id"], "status": "failed", "pid": dead.process.pid,
                        "error": f"its worker process died ({why}) {attempt + 1} times"})
        self._start()

    def close(self) -> None:
        for worker in self._pool:
            try:
                if worker.task is None:
                    worker.conn.send(None)
            except OSError:
                pass
        for worker in self._pool:
            worker.process.join(timeout=30 if worker.task is not None else 5)
            if worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: a run keeps its checkpoint
                worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
        self._pool.clear()
