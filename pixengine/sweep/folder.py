"""A sweep folder: what the sweep planned (``sweep.json``), one ordinary run folder per run
under ``runs/``, the index and sheet made from them, and a lock so only one driver works on
it at a time. No torch here.

    SWEEP/
      sweep.json            the spec, the expanded runs, the halving rungs, a fingerprint
      runs/ID/              ordinary run folders (final.png, run.yaml, log.jsonl, checkpoint.pt)
      index.jsonl index.csv one line per run, rebuilt from the run folders
      sheet.png             the results laid out by the axes (sheet-2.png... when large)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, PixengineError
from ..outputs import atomic_write
from ..rundir import _try_lock, read_holder

RECORD_NAME = "sweep.json"
LOCK_NAME = ".sweep.lock"
#: A random token a worker finds in the folder when it shares the driver's filesystem.
TOKEN_NAME = ".sweep-token"
RUNS = "runs"
FORMAT = 1


class SweepBusy(PixengineError):
    """Another driver is running this sweep."""


def is_sweep(folder: str | Path) -> bool:
    return (Path(folder) / RECORD_NAME).is_file()


@dataclass
class SweepFolder:
    root: Path

    @property
    def record_path(self) -> Path:
        return self.root / RECORD_NAME

    def run_folder(self, run_id: str) -> Path:
        return self.root / RUNS / run_id

    def read_record(self) -> dict:
        try:
            data = json.loads(self.record_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"'{self.root}' is not a sweep folder (no {RECORD_NAME})") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read '{self.record_path}': {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("runs"), list):
            raise ConfigError(f"'{self.record_path}' is not a sweep record this pixengine can read (format {FORMAT})")
        return data

    def write_record(self, record: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": FORMAT, **record}, indent=1, default=str)
        atomic_write(self.record_path, lambda handle: handle.write(text.encode("utf-8")))

    def token(self) -> str:
        """The folder's token (made once): a worker that reads the same token here writes its
        run straight into the folder; one that cannot sends the files back to the driver."""
        path = self.root / TOKEN_NAME
        if not path.is_file():
            token = secrets.token_hex(16)
            atomic_write(path, lambda handle: handle.write(token.encode()))
        return path.read_text(encoding="utf-8").strip()


class SweepLock:
    """One driver per sweep folder: an OS lock the kernel releases when the driver dies."""

    def __init__(self, root: Path):
        self.path = Path(root) / LOCK_NAME
        self._handle = None

    def __enter__(self) -> "SweepLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        if not _try_lock(handle):
            holder = read_holder(self.path)
            handle.close()
            who = f" by process {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}" if holder else ""
            raise SweepBusy(f"the sweep in '{self.path.parent}' is being run{who}; wait for it, or stop that driver first")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def default_root(name: str, fingerprint: str, base: Path = Path("outputs")) -> tuple[Path, bool]:
    """``outputs/sweep-NAME-DATE``, or the latest such folder that holds this very sweep (so
    running the same command again resumes it). Returns (folder, whether it exists)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:60] or "sweep"
    if base.is_dir():
        for candidate in sorted(base.glob(f"sweep-{safe}-*"), reverse=True):
            try:
                if is_sweep(candidate) and SweepFolder(candidate).read_record().get("fingerprint") == fingerprint:
                    return candidate, True
            except ConfigError:
                continue
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    root, n = base / f"sweep-{safe}-{stamp}", 1
    while root.exists():
        n += 1
        root = base / f"sweep-{safe}-{stamp}-{n}"
    return root, False
