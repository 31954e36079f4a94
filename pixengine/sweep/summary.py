"""``pixengine info SWEEP_DIR``: a sweep's status and its best runs, read from its run
folders (never from a stale index). No torch here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from . import index
from .folder import SweepFolder

BEST_SHOWN = 5


def compute(record: dict, entries: list[dict]) -> tuple[int, int]:
    """(steps run, steps that running every run to its end takes)."""
    full = len(entries) * int(record.get("steps") or 0)
    return sum(int(line.get("step") or 0) for line in entries), full


def best(record: dict, entries: list[dict], count: int = BEST_SHOWN) -> list[dict]:
    """The finished runs, best first by the sweep's halving metric (else the total)."""
    by = (record.get("halving") or {}).get("by", "total")

    def value(line: dict) -> float | None:
        if by == "total":
            return line.get("total")
        # The index keeps weighted losses; ranking by one loss is the same whatever its weight
        # as long as the weight is the same, which it is among runs ranked against each other.
        return (line.get("losses") or {}).get(by)

    done = [line for line in entries if line["status"] == "finished" and value(line) is not None]
    return sorted(done, key=lambda line: (value(line), line["index"]))[:count]


def describe(folder: str | Path) -> str:
    """A few lines on a sweep folder: runs by status, compute, the best runs, files."""
    root = Path(folder)
    record = SweepFolder(root).read_record()
    entries = index.build(root)
    counts = Counter(line["status"] for line in entries)
    order = ["finished", "pruned", "stopped", "running", "interrupted", "failed", "nonfinite", "pending"]
    status = ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))
    axes = " x ".join(f"{axis['name']} ({len(axis['labels'])})" for axis in record.get("axes") or []) or "no axes"
    lines = [f"sweep '{record.get('name')}' in {root}: {len(entries)} runs of {record.get('recipe')} over {axes}",
             f"  status: {status}"]
    ran, full = compute(record, entries)
    if full:
        lines.append(f"  steps run: {ran} of {full} ({100 * ran / full:.0f}%)")
    halving = record.get("halving")
    if halving:
        lines.append(f"  best-of-N: keep {halving['keep']} by {halving['by']}, rungs "
                     + ", ".join(f"step {s} keeps {k}" for s, k in halving["rungs"]))
    top = best(record, entries)
    if top:
        by = (halving or {}).get("by", "total")
        lines.append(f"  best by {by}:")
        for rank, line in enumerate(top, 1):
            value = line["total"] if by == "total" else line["losses"].get(by)
            axes_text = ", ".join(line["axes"].values())
            lines.append(f"    {rank}. {line['id']}  {by} {value:.5g}  {axes_text}  {root / (line.get('final') or line['path'])}")
    failed = [line for line in entries if line["status"] in ("failed", "nonfinite")]
    for line in failed[:3]:
        lines.append(f"  {line['status']}: {line['id']} at step {line['step']}" + (f": {line['error']}" if line.get("error") else ""))
    unfinished = counts.get("pending", 0) + counts.get("interrupted", 0) + counts.get("stopped", 0)
    if unfinished:
        lines.append(f"  go on with: pixengine sweep {root}")
    sheets = sorted(root.glob("sheet*.png"))
    lines.append(f"  files: {index.INDEX_NAME}, {index.CSV_NAME}" + (f", {', '.join(p.name for p in sheets)}" if sheets else ""))
    return "\n".join(lines)
