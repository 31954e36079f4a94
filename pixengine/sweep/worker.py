"""One run of a sweep, in whatever process executes it (a local worker, a Ray task): start it,
or resume it from its checkpoint when its folder holds one, optionally stopping at a step
(a halving rung). The run folder decides what to do, so a task that is retried after its
worker died goes on from the last checkpoint instead of step 0.

A task is plain data (it crosses process and machine boundaries):
``{"id", "folder", "recipe", "prompt", "overrides", "stop_at", "sweep_dir", "token", "files"}``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

from ..rundir import LOCK_NAME, is_locked, summarize
from .folder import TOKEN_NAME

PLUGIN_NAME = "pixengine-sweep-rungs"
#: Seconds a task waits for a run folder that another process still holds.
LOCK_WAIT = 60.0
#: The step the run in this process stops at (a halving rung), or None.
_stop_at: int | None = None


def _on_step(run, step, image, losses) -> None:
    if _stop_at is not None and step >= _stop_at:
        run.stop(f"sweep: successive halving rung at step {_stop_at}")


def install_rung_stopper() -> None:
    """Register the hook that pauses runs at rungs (once per process)."""
    import pixengine
    from .. import plugins

    if any(name == PLUGIN_NAME for name, _ in plugins._code_plugins):
        return
    module = types.ModuleType(PLUGIN_NAME)
    module.on_step = pixengine.hookimpl(_on_step)
    plugins.register(module, PLUGIN_NAME)


def _outcome(task: dict, folder: Path, started: float, error: str | None = None, files: dict | None = None) -> dict:
    try:
        summary = summarize(folder)
        status, step, total = summary.status, summary.step, summary.total
    except Exception:  # nothing written yet
        status, step, total = "failed" if error else "pending", 0, None
    return {"id": task["id"], "status": "failed" if error and status not in ("nonfinite",) else status, "step": step,
            "total": total, "error": error, "files": files, "pid": os.getpid(), "host": os.uname().nodename,
            "wall": time.perf_counter() - started}


def _reached(folder: Path, stop_at: int | None) -> bool:
    """Whether the run in ``folder`` needs nothing more for this task."""
    try:
        summary = summarize(folder)
    except Exception:
        return False
    if summary.status in ("finished", "nonfinite"):
        return True  # (a run that failed is tried again by a later driver)
    return stop_at is not None and summary.status == "stopped" and summary.step >= stop_at


def run_in_folder(task: dict, folder: Path) -> str | None:
    """Run the task's run in ``folder``; the error message when it fails, else None."""
    global _stop_at
    import pixengine
    from ..errors import PixengineError

    if _reached(folder, task.get("stop_at")):
        return None
    _wait_for_lock(folder)
    install_rung_stopper()
    _stop_at = task.get("stop_at")
    captured = io.StringIO()
    try:
        resumable = False
        try:
            resumable = summarize(folder).resumable
        except Exception:
            pass
        with contextlib.redirect_stderr(captured):
            if resumable:
                pixengine.run(resume=folder, progress=False)
            else:
                overrides = {**task["overrides"], "output_dir": str(folder), "progress": False}
                pixengine.run(task["recipe"], task.get("prompt"), overrides=overrides)
    except PixengineError as exc:
        return str(exc)
    finally:
        _stop_at = None
        _forward(task["id"], captured.getvalue())
    return None


def _forward(run_id: str, text: str) -> None:
    """Pass on what a run printed (warnings), except the engine's line on how it ended, which
    the driver reports for every run anyway."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("Run ")]
    for line in lines:
        print(f"[{run_id}] {line}", file=sys.stderr)


def _wait_for_lock(folder: Path, timeout: float = LOCK_WAIT) -> None:
    """A run folder still held by a process of an earlier driver (ending its run after that
    driver was killed) is waited for a little, instead of failing the run as busy."""
    deadline = time.monotonic() + timeout
    while is_locked(folder) and time.monotonic() < deadline:
        time.sleep(0.2)


def _shares_filesystem(task: dict) -> bool:
    try:
        return (Path(task["sweep_dir"]) / TOKEN_NAME).read_text(encoding="utf-8").strip() == task["token"]
    except OSError:
        return False


def execute(task: dict) -> dict:
    """Run one task here; returns its outcome (status, step, total, error; files when the run
    folder is not on a filesystem the driver shares)."""
    started = time.perf_counter()
    folder = Path(task["folder"])
    if _shares_filesystem(task):
        return _outcome(task, folder, started, run_in_folder(task, folder))
    # No shared storage: run in a scratch folder seeded with what the driver sent (to resume),
    # and send every file back.
    scratch = Path(tempfile.mkdtemp(prefix="pixengine-sweep-"))
    try:
        local = scratch / task["id"]
        local.mkdir()
        for name, data in (task.get("files") or {}).items():
            target = local / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        error = run_in_folder(task, local)
        files = {str(path.relative_to(local)): path.read_bytes()
                 for path in sorted(local.rglob("*")) if path.is_file() and path.name != LOCK_NAME}
        return _outcome(task, local, started, error, files=files)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def folder_files(folder: Path) -> dict[str, bytes]:
    """What a worker without shared storage needs to resume the run in ``folder``."""
    wanted = ("checkpoint.pt", "run.yaml", "log.jsonl", "final.png")
    return {name: (folder / name).read_bytes() for name in wanted if (folder / name).is_file()}


def receive_files(folder: Path, files: dict[str, Any]) -> None:
    """Write the files a remote worker sent back into the run folder, each atomically."""
    from ..outputs import atomic_write

    root = folder.resolve()
    for name, data in files.items():
        target = (folder / name).resolve()
        if root not in target.parents:  # never outside the run folder
            continue
        atomic_write(target, lambda handle, data=data: handle.write(data))
