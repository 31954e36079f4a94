"""A studio worker: a separate process (never the web server's thread) that runs one job at a
time with ``pixengine.run`` and reports it through :mod:`pixengine.serve.live_hooks`.

Messages from the server arrive on the worker's inbox: ``("job", JOB)``, ``("cancel", ID)``,
``("stop", None)``. Cancel stops the run as Ctrl-C does (a KeyboardInterrupt in the run's thread,
so the engine keeps the last good image and a resumable checkpoint): raised by the ``on_step``
hook at the end of the current step, or, while the run is still being built (loading models),
by interrupting the thread at once. Stop does the same to a running job, then the process
exits. The worker leaves the terminal's process group, so a Ctrl-C typed at
``pixengine serve`` reaches only the server, which stops the workers in order; and it watches
its parent, so a server killed outright still leaves every run interrupted properly.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import queue
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from . import folders

PARENT_CHECK_SECONDS = 1.0


def main(index: int, inbox: Any, events: Any, threads: int | None) -> None:
    """The worker process's entry point (``multiprocessing`` spawn target)."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if threads:
        import torch

        torch.set_num_threads(threads)
    Worker(index, inbox, events).serve()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


class Worker:
    def __init__(self, index: int, inbox: Any, events: Any):
        self.index = index
        self.inbox = inbox
        self.events = events
        self.jobs: queue.Queue = queue.Queue()
        #: The reporter of the running job (None between jobs): cancel goes through it.
        self._reporter = None
        self._parent = os.getppid()
        self._orphaned = False

    def serve(self) -> None:
        from .. import plugins
        from . import live_hooks

        plugins.register(live_hooks, "pixengine-studio")
        plugins.get_registry()  # load the plugins now, not in the first job
        threading.Thread(target=self._read_inbox, name="studio-inbox", daemon=True).start()
        threading.Thread(target=self._watch_parent, name="studio-parent", daemon=True).start()
        self.events.put({"type": "ready", "worker": self.index, "pid": os.getpid()})
        while True:
            try:
                job = self.jobs.get()
                if job is None:
                    break
                self.run_job(job)
            except KeyboardInterrupt:
                continue  # a cancel that arrived just as its job ended: nothing left to stop
        if self._orphaned:
            # Nobody reads our reports any more: exit without waiting to send them.
            os._exit(0)

    # -- messages from the server, read in their own thread -----------------------------------

    def _read_inbox(self) -> None:
        while True:
            try:
                kind, payload = self.inbox.get()
            except (EOFError, OSError):
                kind, payload = "stop", None
            if kind == "job":
                self.jobs.put(payload)
            elif kind == "cancel":
                self.cancel(payload)
            elif kind == "stop":
                self.stop()
                return

    def _watch_parent(self) -> None:
        while os.getppid() == self._parent:
            time.sleep(PARENT_CHECK_SECONDS)
        # The server is gone: stop the run as Ctrl-C would (it keeps its image and checkpoint),
        # and exit; reports queued for the server are dropped, not waited on.
        self._orphaned = True
        self.events.cancel_join_thread()
        self.stop()

    def cancel(self, job_id: str | None = None) -> None:
        """Stop the running job (``job_id``: only if it is that one) as Ctrl-C would."""
        reporter = self._reporter
        if reporter is None or (job_id is not None and reporter.job_id != job_id):
            return
        reporter.stop_requested.set()
        if not reporter.stepping:
            # Still building (a model can take minutes to load): interrupt it now.
            _thread.interrupt_main()

    def stop(self) -> None:
        self.jobs.put(None)
        self.cancel()

    # -- running a job -----------------------------------------------------------------------

    def run_job(self, job: dict) -> None:
        from . import live_hooks
        from .live_hooks import Reporter

        folder = Path(job["folder"])
        folders.update_studio(folder, state="started", error=None, worker=self.index)
        reporter = Reporter(job["id"], self.events)
        live_hooks.reporter = reporter
        reporter.send({"type": "started", "worker": self.index})
        outcome, error = "interrupted", None
        try:
            self._reporter = reporter
            outcome, error = self._execute(job, folder)
        except KeyboardInterrupt:
            outcome = "interrupted"
        finally:
            self._reporter = None
            live_hooks.reporter = None
            with contextlib.suppress(KeyboardInterrupt):
                reporter.close()
            with contextlib.suppress(KeyboardInterrupt):
                folders.update_studio(folder, state="failed" if error else "done", error=error, outcome=outcome)
            self.events.put({"type": "done", "job": job["id"], "worker": self.index, "outcome": outcome, "error": error})

    def _execute(self, job: dict, folder: Path) -> tuple[str, str | None]:
        """Run the job with its output going to ``console.log`` in its folder; (outcome, error)."""
        import pixengine
        from ..errors import PixengineError

        with open(folder / "console.log", "a", encoding="utf-8", buffering=1) as console, \
                contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
            try:
                if job["kind"] == "resume":
                    result = pixengine.run(resume=folder, overrides=job.get("overrides") or {})
                else:
                    result = pixengine.run(job["recipe"], job.get("prompt"), overrides=job.get("overrides") or {})
                return result.status, None
            except KeyboardInterrupt:
                return "interrupted", None
            except PixengineError as exc:
                print(f"error: {exc}", file=console)
                return "failed", str(exc)
            except Exception as exc:  # a plugin's bug: its traceback goes to console.log, not the page
                traceback.print_exc(file=console)
                return "failed", f"{type(exc).__name__}: {exc}"
