"""Run folders: the source of truth every index (a sweep's ``index.jsonl``, the web studio's
database) is rebuilt from. This module owns the two things every writer and reader of a run
folder must agree on:

* **one writer per folder**: :class:`RunFolderLock`, an OS lock on ``.pixengine.lock`` held for
  the whole run. The kernel releases it when the process dies, however it dies, so a lock left
  by a killed run is never an obstacle; the file also records the holder's pid, host and start
  time for the refusal message;
* **what a folder says about its run**: :func:`summarize` reads ``run.yaml``, the last line of
  ``log.jsonl`` and the lock, without torch, and tells its status (running, finished,
  interrupted, failed, nonfinite) and progress.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, PixengineError

LOCK_NAME = ".pixengine.lock"
RUN_YAML = "run.yaml"
LOG_NAME = "log.jsonl"
FINAL_NAME = "final.png"
CHECKPOINT_NAME = "checkpoint.pt"

#: Statuses a run document records; ``running`` becomes ``interrupted`` when nobody holds the lock.
#: ``stopped``: a hook ended it early on purpose (``RunView.stop``); like ``interrupted``, resumable.
STATUSES = ("running", "finished", "interrupted", "stopped", "failed", "nonfinite")


class RunFolderBusy(PixengineError):
    """Another process is writing into the run folder."""


try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def _try_lock(handle) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True
    import msvcrt

    try:
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


class RunFolderLock:
    """Exclusive use of a run folder by this process, until :meth:`release` (or exit)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._handle = None

    def acquire(self) -> "RunFolderLock":
        from .outputs import make_folder, output_error

        make_folder(self.folder)
        try:
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as exc:
            raise output_error(self.path, exc) from None
        if not _try_lock(handle):
            holder = read_holder(self.path)
            handle.close()
            who = f" by process {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}" if holder else ""
            raise RunFolderBusy(
                f"'{self.folder}' is in use{who}: another run is writing into it. "
                "Choose another output_dir, or wait for that run to end."
            )
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor releases the lock
            self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> "RunFolderLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def read_holder(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_locked(folder: str | Path) -> bool:
    """Whether a live process holds the folder's lock (never blocks, never takes it)."""
    path = Path(folder) / LOCK_NAME
    if not path.is_file():
        return False
    with open(path, "a+", encoding="utf-8") as handle:
        if not _try_lock(handle):
            return True
    return False  # closing released the probe's lock at once


@dataclass
class RunSummary:
    """What a run folder says about its run."""

    folder: Path
    status: str
    preset: str = ""
    prompt: str = ""
    seed: Any = None
    step: int = 0
    steps: int = 0
    width: int | None = None
    height: int | None = None
    created: str | None = None
    #: Seconds the run's steps took (the log's sum).
    seconds: float | None = None
    #: The last logged step: total and per-loss values.
    total: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    #: Files worth showing, when present: final.png, animation, SVG, contact sheet...
    files: dict[str, Path] = field(default_factory=dict)
    resumable: bool = False
    #: Why the folder could not be read fully (a damaged run.yaml), else None.
    problem: str | None = None
    document: dict | None = None


def log_records(path: str | Path) -> Iterator[dict]:
    """The whole records of a ``log.jsonl``, in order: a line torn by a crash mid-write is
    skipped, and a log that cannot be read has none."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    yield record
    except OSError:
        return


def last_log_record(path: Path) -> tuple[dict | None, int, float]:
    """(last whole record, number of records, sum of their seconds) of a ``log.jsonl``."""
    last, count, seconds = None, 0, 0.0
    for record in log_records(path):
        last, count = record, count + 1
        seconds += float(record.get("seconds") or 0.0)
    return last, count, seconds


_SHOWN = {
    "final": FINAL_NAME,
    "svg": "final.svg",
    "gif": "animation.gif",
    "mp4": "animation.mp4",
    "contact_sheet": "contact_sheet.png",
    "log": LOG_NAME,
    "checkpoint": CHECKPOINT_NAME,
    "run_yaml": RUN_YAML,
}


def summarize(folder: str | Path) -> RunSummary:
    """The status and progress of the run in ``folder`` (ConfigError if it is not a run folder)."""
    from .outputs import parse_run_document

    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"'{folder}' is not a folder")
    files = {name: folder / filename for name, filename in _SHOWN.items() if (folder / filename).is_file()}
    if not files and not (folder / LOCK_NAME).exists():
        raise ConfigError(f"'{folder}' is not a run folder (no {RUN_YAML}, {LOG_NAME} or {FINAL_NAME})")
    document, problem = None, None
    if "run_yaml" in files:
        try:
            document = parse_run_document(files["run_yaml"].read_bytes(), str(files["run_yaml"]))
        except (ConfigError, OSError) as exc:
            problem = str(exc)
    locked = is_locked(folder)
    record, count, seconds = last_log_record(files["log"]) if "log" in files else (None, 0, 0.0)
    config = (document or {}).get("config") or {}
    status = str((document or {}).get("status") or ("running" if locked else "interrupted"))
    if status == "running" and not locked:
        status = "interrupted"  # its process is gone: killed, or the machine stopped
    step = int((record or {}).get("step") or (document or {}).get("step") or 0)
    return RunSummary(
        folder=folder,
        status=status,
        preset=str(config.get("preset") or ""),
        prompt=str(config.get("prompt") or ""),
        seed=(document or {}).get("seed", config.get("seed")),
        step=step,
        steps=int((document or {}).get("steps") or config.get("steps") or 0),
        width=config.get("width"),
        height=config.get("height"),
        created=(document or {}).get("created"),
        seconds=seconds if count else None,
        total=(record or {}).get("total"),
        losses=dict((record or {}).get("losses") or {}),
        files=files,
        resumable="checkpoint" in files and status != "finished",
        problem=problem,
        document=document,
    )
