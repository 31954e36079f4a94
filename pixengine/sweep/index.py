"""The sweep's index: one entry per run (id, axis values, seed, status, final total and
per-loss values, seconds, path), made from the run folders (the source of truth) and the
sweep record, so it can always be rebuilt: ``index.jsonl`` and ``index.csv``. Also the
replay of best-of-N's decisions from the runs' logs. No torch here."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from ..outputs import atomic_write
from ..rundir import LOG_NAME, summarize
from . import halving
from .folder import SweepFolder

INDEX_NAME = "index.jsonl"
CSV_NAME = "index.csv"


def _log_records(folder: Path) -> dict[int, dict]:
    """The log's record of each step (the last one written, after a resume repeated steps)."""
    records: dict[int, dict] = {}
    try:
        with open(folder / LOG_NAME, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a torn last line
                if isinstance(record, dict) and isinstance(record.get("step"), int):
                    records[record["step"]] = record
    except OSError:
        pass
    return records


def metric_at(folder: Path, step: int, by: str) -> float | None:
    """The value runs are ranked by at a rung: the weighted total, or a loss's raw value (so
    runs that weigh that loss differently are compared on the loss itself)."""
    record = _log_records(folder).get(step)
    if record is None:
        return None
    value = record.get("total") if by == "total" else (record.get("raw") or {}).get(by)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def reached(folder: Path, step: int | None) -> bool:
    """Whether the run in ``folder`` has got to ``step`` (None: its end) and can be compared there."""
    try:
        summary = summarize(folder)
    except Exception:
        return False
    if summary.status in ("finished", "nonfinite", "failed"):
        return True  # a run that failed before a rung ranks last there
    return step is not None and summary.step >= step and summary.status in ("stopped", "interrupted")


def replay(record: dict, root: Path) -> tuple[list[str], dict[str, int], bool]:
    """Best-of-N's decisions so far, from the logs: (runs still in, {pruned run: rung step},
    whether every rung has been decided). Deterministic, so a resumed sweep decides the same."""
    folder = SweepFolder(root)
    order = {run["id"]: run["index"] for run in record["runs"]}
    alive = [run["id"] for run in record["runs"]]
    pruned: dict[str, int] = {}
    spec = record.get("halving")
    if not spec:
        return alive, pruned, True
    for step, keep in spec["rungs"]:
        if not all(reached(folder.run_folder(run_id), step) for run_id in alive):
            return alive, pruned, False
        values = {run_id: metric_at(folder.run_folder(run_id), step, spec["by"]) for run_id in alive}
        kept = set(halving.select(values, keep, order))
        pruned.update({run_id: step for run_id in alive if run_id not in kept})
        alive = [run_id for run_id in alive if run_id in kept]
    return alive, pruned, True


def entry(record: dict, root: Path, run: dict, pruned_at: int | None = None, error: str | None = None) -> dict[str, Any]:
    """The index line of one run, read from its folder."""
    folder = SweepFolder(root).run_folder(run["id"])
    line: dict[str, Any] = {"id": run["id"], "index": run["index"], "axes": run["axes"],
                            "seed": run["overrides"].get("seed"), "status": "pending", "step": 0,
                            "steps": record.get("steps"), "total": None, "losses": {}, "seconds": None,
                            "path": str(folder.relative_to(root))}
    if "prompt" in run["overrides"]:
        line["prompt"] = run["overrides"]["prompt"]
    try:
        summary = summarize(folder)
    except Exception:
        summary = None
    if summary is not None:
        line.update(status=summary.status, step=summary.step, steps=summary.steps or record.get("steps"),
                    total=summary.total, losses=summary.losses,
                    seconds=round(summary.seconds, 3) if summary.seconds is not None else None)
        if "final" in summary.files:
            line["final"] = str(summary.files["final"].relative_to(root))
    if pruned_at is not None:
        line.update(status="pruned", pruned_at=pruned_at)
    if error:
        line["error"] = error
    return line


def build(root: Path, errors: dict[str, str] | None = None) -> list[dict]:
    """Every run's index line, from the sweep record and the run folders."""
    record = SweepFolder(root).read_record()
    _, pruned, _ = replay(record, root)
    errors = errors or {}
    return [entry(record, root, run, pruned.get(run["id"]), errors.get(run["id"])) for run in record["runs"]]


def write(root: Path, entries: list[dict]) -> tuple[Path, Path]:
    """``index.jsonl`` and ``index.csv`` (axes, losses as columns), both atomically."""
    text = "".join(json.dumps(line, default=str) + "\n" for line in entries)
    jsonl = atomic_write(root / INDEX_NAME, lambda handle: handle.write(text.encode("utf-8")))
    axes = list(dict.fromkeys(name for line in entries for name in line["axes"]))
    losses = list(dict.fromkeys(name for line in entries for name in line["losses"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "status", "seed", *axes, "step", "steps", "total", *losses, "seconds", "path"])
    for line in entries:
        writer.writerow([line["id"], line["status"], line["seed"], *(line["axes"].get(a, "") for a in axes),
                         line["step"], line["steps"], line["total"], *(line["losses"].get(name, "") for name in losses),
                         line["seconds"], line["path"]])
    table = atomic_write(root / CSV_NAME, lambda handle: handle.write(buffer.getvalue().encode("utf-8")))
    return jsonl, table


def read(root: Path) -> list[dict]:
    """The index as written (rebuild it with :func:`build` when in doubt)."""
    path = Path(root) / INDEX_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
