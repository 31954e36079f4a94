"""Helpers of the sweep tests: tiny repaint runs, the same run made alone with `pixengine
run`, bit-for-bit comparison, and a killer that waits for a run to be midway."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixengine.cli import main
from pixengine.rundir import LOCK_NAME, is_locked, read_holder

TINY = ["steps=3", "width=48", "height=48"]
GRID = ["--grid", "losses.smooth.weight=0.05,0.2", "--seeds", "2"]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def log_totals(folder: Path) -> list[float]:
    """Each step's total as logged (the last record of a step repeated by a resume)."""
    records = {}
    for line in (folder / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        records[record["step"]] = record["total"]
    return [records[step] for step in sorted(records)]


def alone(tmp: Path, name: str, overrides: dict, extra: list[str]) -> Path:
    """The run made alone with `pixengine run`."""
    folder = tmp / "alone" / name
    args = ["run", "repaint", *extra, *(f"{k}={v}" for k, v in overrides.items()), f"output_dir={folder}", "progress=false"]
    assert main(args) == 0
    return folder


def assert_same_as_alone(sweep_dir: Path, tmp: Path, extra: list[str]) -> None:
    """Every finished run of the sweep equals the same run made alone, bit for bit."""
    record = json.loads((sweep_dir / "sweep.json").read_text())
    for run in record["runs"]:
        folder = sweep_dir / "runs" / run["id"]
        reference = alone(tmp, run["id"], run["overrides"], extra)
        assert np.array_equal(pixels(folder / "final.png"), pixels(reference / "final.png")), run["id"]
        assert log_totals(folder) == log_totals(reference), run["id"]


def index_lines(sweep_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (sweep_dir / "index.jsonl").read_text().splitlines()]


class KillMidway(threading.Thread):
    """Waits until the run in ``folder`` has logged ``after`` steps and written a checkpoint,
    then kills the process holding its folder (SIGKILL: no chance to save anything)."""

    def __init__(self, folder: Path, after: int, timeout: float = 120):
        super().__init__(daemon=True)
        self.folder, self.after, self.timeout = folder, after, timeout
        self.killed: int | None = None
        self.at_step = 0

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            log = self.folder / "log.jsonl"
            if log.is_file() and (self.folder / "checkpoint.pt").is_file() and is_locked(self.folder):
                steps = len(log.read_text().splitlines())
                if steps >= self.after:
                    pid = read_holder(self.folder / LOCK_NAME).get("pid")
                    if pid and pid != os.getpid():
                        self.at_step = steps
                        os.kill(pid, signal.SIGKILL)
                        self.killed = pid
                        return
            time.sleep(0.01)
