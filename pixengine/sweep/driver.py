"""The driver: takes a sweep folder's plan and gets every run done on an executor (local
processes or Ray), skipping what is finished, resuming what was interrupted, stopping the
worst runs at halving rungs, and keeping the index and the sheet up to date. Whatever stops
the driver, running it again on the same folder goes on from the run folders."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, PixengineError
from ..rundir import summarize
from . import index, sheet
from .folder import LOCK_NAME, SweepFolder, SweepLock
from .worker import folder_files, receive_files


@dataclass
class SweepResult:
    root: Path
    entries: list[dict]
    sheets: list[Path]
    #: Wall-clock seconds of this driver's work.
    seconds: float
    #: Runs this driver submitted (0 when everything was done already).
    submitted: int


def open_folder(root: Path, record: dict) -> None:
    """Record the plan in a new folder, or check that an existing one holds this very sweep."""
    folder = SweepFolder(root)
    if folder.record_path.is_file():
        existing = folder.read_record()
        if existing.get("fingerprint") != record["fingerprint"]:
            theirs = {run["id"] for run in existing["runs"]}
            ours = {run["id"] for run in record["runs"]}
            differ = sorted(ours ^ theirs)
            detail = f" (runs only in one of them: {', '.join(differ[:3])}{'...' if len(differ) > 3 else ''})" if differ else \
                " (same run names, different settings)"
            raise ConfigError(f"'{root}' holds another sweep{detail}. Choose another -o, or go on with that one: "
                              f"pixengine sweep {root}")
        return
    if root.exists() and any(path.name != LOCK_NAME for path in root.iterdir()):
        raise ConfigError(f"'{root}' exists and is not a sweep folder; choose another -o")
    folder.write_record(record)


def _status(root: Path, run_id: str) -> str:
    try:
        return summarize(SweepFolder(root).run_folder(run_id)).status
    except ConfigError:
        return "pending"


def run(root: Path, executor, *, record: dict | None = None, echo: Callable[[str], None] = print) -> SweepResult:
    """Run the sweep recorded in ``root`` (with ``record``: a new plan, recorded first, or
    checked against the one there) to its end, or its best-of-N's end."""
    started = time.perf_counter()
    folder = SweepFolder(root)
    with SweepLock(root):
        if record is not None:
            open_folder(root, record)
        record = folder.read_record()
        token = folder.token()
        runs = {run["id"]: run for run in record["runs"]}
        errors: dict[str, str] = {}
        remote: set[str] = set()  # runs whose files came back from a node without shared storage
        lines = {line["id"]: line for line in index.build(root)}
        index.write(root, list(lines.values()))
        counter = {"done": 0, "submitted": 0}

        def task(run_id: str, stop_at: int | None) -> dict:
            run_folder = folder.run_folder(run_id)
            return {"id": run_id, "folder": str(run_folder.resolve()), "recipe": record["recipe"], "prompt": record.get("prompt"),
                    "overrides": {**record.get("overrides", {}), **runs[run_id]["overrides"]}, "stop_at": stop_at,
                    "sweep_dir": str(root.resolve()), "token": token,
                    "files": folder_files(run_folder) if run_id in remote else None}

        def on_outcome(outcome: dict) -> None:
            run_id = outcome["id"]
            if outcome.get("files"):
                receive_files(folder.run_folder(run_id), outcome["files"])
                remote.add(run_id)
            if outcome.get("error"):
                errors[run_id] = outcome["error"]
            lines[run_id] = index.entry(record, root, runs[run_id], error=errors.get(run_id))
            index.write(root, list(lines.values()))
            counter["done"] += 1
            line = lines[run_id]
            value = f"  total {line['total']:.5g}" if isinstance(line.get("total"), (int, float)) else ""
            why = f"  {outcome['error']}" if outcome.get("error") else ""
            echo(f"[{counter['done']}/{counter['submitted']}] {run_id}: {line['status']} at step {line['step']}{value}{why}")

        def execute(ids: list[str], stop_at: int | None) -> None:
            counter["done"], counter["submitted"] = 0, len(ids)
            if ids:
                executor.run([task(run_id, stop_at) for run_id in ids], on_outcome)

        submitted = 0
        try:
            tried_rungs: set[int] = set()
            while True:
                alive, pruned, decided = index.replay(record, root)
                if decided:
                    break
                step = next(s for s, _ in record["halving"]["rungs"]
                            if not all(index.reached(folder.run_folder(r), s) for r in alive))
                todo = [r for r in alive if not index.reached(folder.run_folder(r), step)]
                if step in tried_rungs:
                    raise PixengineError(f"runs {', '.join(todo[:3])} could not get to step {step} (the halving rung); "
                                         f"see their folders under {root / 'runs'}")
                tried_rungs.add(step)
                echo(f"Rung at step {step}: {len(todo)} run(s) to get there, then the best {_keep(record, step)} go on")
                execute(todo, step)
                submitted += len(todo)
            todo = [r for r in alive if _status(root, r) not in ("finished", "nonfinite")]
            if record.get("halving"):
                echo(f"{len(alive)} best run(s) go on to the end")
            execute(todo, None)
            submitted += len(todo)
        finally:
            entries = index.build(root, errors)
            index.write(root, entries)
            sheets = sheet.write(root, record, entries)
    return SweepResult(root=root, entries=entries, sheets=sheets, seconds=time.perf_counter() - started, submitted=submitted)


def _keep(record: dict, step: int) -> int:
    return next(keep for s, keep in record["halving"]["rungs"] if s == step)
