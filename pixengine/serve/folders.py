"""The studio's view of run folders, torch-free.

A run folder is the source of truth (:mod:`pixengine.rundir`). The studio adds one file,
``studio.json``, to the folders it creates: the request a run was queued with, and the
worker's word on it (``queued``, ``started``, ``done``, ``failed`` with the error). That is all
the state that must survive a restart; everything else is read from the folder itself, so
deleting the index loses nothing.

A folder's status is one of ``queued``, ``running``, ``finished``, ``interrupted``, ``failed``:

1. a live process holds its lock: ``running``;
2. the studio queued it (a new run, or a resume of a stopped one): ``queued``;
3. it has a ``run.yaml``: what that says (``running`` there without a lock holder means the
   process died: ``interrupted``; ``nonfinite`` counts as ``failed``);
4. the studio started it but it never wrote ``run.yaml``: ``failed`` when the worker recorded an
   error (a missing weight file), else ``interrupted`` (the worker died while building).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError
from ..outputs import atomic_write
from ..rundir import LOCK_NAME, is_locked, read_holder, summarize

STUDIO_FILE = "studio.json"
INPUTS = "inputs"
#: How deep below the outputs folder run folders are looked for (variations nest one level).
SCAN_DEPTH = 3

STATUSES = ("queued", "running", "finished", "interrupted", "failed")

#: Files the gallery may serve from a run folder, by pattern: nothing else, whatever the URL says.
SERVED = re.compile(
    r"^(final\.png|final\.svg|animation\.gif|animation\.mp4|contact_sheet\.png|variations\.png|"
    r"log\.jsonl|run\.yaml|console\.log|steps/step_\d{5}\.png|inputs/[A-Za-z0-9._-]{1,80}\.png)$"
)
#: Files whose presence marks a folder as a run folder.
_MARKERS = ("run.yaml", "final.png", "log.jsonl", STUDIO_FILE, LOCK_NAME)
#: Files whose change (or the lock's holder) changes what a folder says about its run.
_SIGNATURE_FILES = ("run.yaml", "log.jsonl", "final.png", STUDIO_FILE, "checkpoint.pt", "final.svg", "animation.gif",
                    "animation.mp4", "contact_sheet.png")


@dataclass
class RunRecord:
    """One run as the gallery and the API show it."""

    id: str
    folder: str
    status: str
    preset: str = ""
    prompt: str = ""
    seed: Any = None
    step: int = 0
    steps: int = 0
    total: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None
    #: When the run (or its last resume) started, else when it was queued; ISO 8601, UTC.
    started: str | None = None
    width: int | None = None
    height: int | None = None
    #: Names of the files it can show (see :data:`SERVED`): final.png, animation.gif...
    files: list[str] = field(default_factory=list)
    #: Whether Resume can go on from a checkpoint (or start a never-started request afresh).
    resumable: bool = False
    #: Why it failed, when the studio's worker recorded it; a damaged run.yaml's problem.
    error: str | None = None
    #: "studio" for folders the studio created, "cli" for any other run folder.
    origin: str = "cli"
    #: The raw status in run.yaml ("nonfinite" shows as failed).
    detail: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def run_id(outputs: Path, folder: Path) -> str:
    """A run's id: its folder relative to the outputs folder, with ``~`` for ``/`` (an id is one
    URL path segment). Ids are only ever looked up in the index, never turned into paths."""
    return "~".join(folder.relative_to(outputs).parts)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_folder(outputs: Path, preset: str) -> Path:
    """A new, empty folder named like the CLI's (``PRESET-DATE-TIME``), claimed atomically so two
    requests in the same second get two folders."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", preset or "run").strip("._") or "run"
    base = f"{stem}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    outputs.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = outputs / (base if n == 1 else f"{base}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise OSError(f"could not create a run folder named {base}-N in {outputs}")


def read_studio(folder: Path) -> dict | None:
    """The folder's ``studio.json``, or None (absent or damaged: then it is not the studio's)."""
    path = folder / STUDIO_FILE
    try:
        if path.stat().st_size > 1_000_000:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_studio(folder: Path, data: dict) -> None:
    data = {**data, "updated": now()}
    atomic_write(folder / STUDIO_FILE, lambda handle: handle.write(json.dumps(data, indent=1).encode("utf-8")))


def update_studio(folder: Path, **changes: Any) -> dict:
    data = {**(read_studio(folder) or {}), **changes}
    write_studio(folder, data)
    return data


def is_run_folder(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _MARKERS)


def find_run_folders(outputs: Path, depth: int = SCAN_DEPTH) -> Iterator[Path]:
    """Run folders under ``outputs``: a run folder's own subfolders (``steps/``, ``inputs/``)
    are not searched; hidden folders (the studio's ``.studio``) are skipped."""
    try:
        entries = sorted(os.scandir(outputs), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        if is_run_folder(path):
            yield path
        elif depth > 1:
            yield from find_run_folders(path, depth - 1)


def signature(folder: Path) -> str:
    """What changes when the folder's story changes: its files' sizes and times, and whether a
    live process holds it (a process that dies changes no file)."""
    parts = []
    for name in _SIGNATURE_FILES:
        try:
            stat = (folder / name).stat()
        except OSError:
            parts.append("-")
            continue
        parts.append(f"{stat.st_size}:{stat.st_mtime_ns}")
    parts.append("L" if is_locked(folder) else "U")
    return "|".join(parts)


def describe(outputs: Path, folder: Path) -> RunRecord | None:
    """What ``folder`` says about its run (None when it is not a run folder)."""
    studio = read_studio(folder)
    record = RunRecord(id=run_id(outputs, folder), folder=str(folder), status="interrupted",
                       origin="studio" if studio is not None else "cli")
    summary = None
    if (folder / "run.yaml").is_file() or (folder / "final.png").is_file() or (folder / "log.jsonl").is_file():
        try:
            summary = summarize(folder)
        except ConfigError:
            summary = None
    if summary is None and studio is None and not (folder / LOCK_NAME).exists():
        return None
    request = (studio or {}).get("request") or {}
    state = (studio or {}).get("state")
    if summary is not None:
        record.preset, record.prompt, record.seed = summary.preset, summary.prompt, summary.seed
        record.step, record.steps = summary.step, summary.steps
        record.total, record.losses, record.seconds = summary.total, summary.losses, summary.seconds
        record.width, record.height = summary.width, summary.height
        record.detail = summary.status
        record.error = summary.problem
    else:
        record.preset = str(request.get("preset") or (studio or {}).get("preset") or "")
        record.prompt = str((studio or {}).get("prompt") or "")
        record.steps = int((studio or {}).get("steps") or 0)
        record.width, record.height = (studio or {}).get("width"), (studio or {}).get("height")
        record.seed = (studio or {}).get("seed")
    if studio is not None and studio.get("error"):
        record.error = str(studio["error"])
    holder = read_holder(folder / LOCK_NAME)
    record.started = holder.get("started") or (studio or {}).get("created") or (summary.created if summary else None)
    record.files = sorted(name for name in _present(folder))

    if summary is not None and summary.status == "running":  # summarize saw the lock held
        record.status = "running"
    elif is_locked(folder):
        record.status = "running"
    elif state == "queued":
        record.status = "queued"
    elif summary is not None and (folder / "run.yaml").is_file():
        record.status = {"nonfinite": "failed"}.get(summary.status, summary.status)
        if record.status not in STATUSES:
            record.status = "failed"
    elif state == "failed":
        record.status = "failed"
    else:
        record.status = "interrupted"
    checkpoint = (folder / "checkpoint.pt").is_file()
    never_started = summary is None and bool(request)
    record.resumable = record.status in ("interrupted", "failed") and (checkpoint or never_started)
    return record


def _present(folder: Path) -> Iterator[str]:
    for name in ("final.png", "final.svg", "animation.gif", "animation.mp4", "contact_sheet.png", "variations.png",
                 "log.jsonl", "run.yaml", "console.log"):
        if (folder / name).is_file():
            yield name


def step_images(folder: Path) -> list[str]:
    """The intermediate images of a run (``steps/step_NNNNN.png``), in order."""
    steps = folder / "steps"
    if not steps.is_dir():
        return []
    return sorted(f"steps/{p.name}" for p in steps.glob("step_*.png") if SERVED.match(f"steps/{p.name}"))


def served_file(folder: Path, name: str) -> Path | None:
    """The file ``name`` of a run folder if the gallery may serve it: it must match
    :data:`SERVED`, exist as a regular file, and stay inside the folder once links are followed."""
    if not SERVED.match(name):
        return None
    root = folder.resolve()
    path = (folder / name).resolve()
    try:
        path.relative_to(root)
    except ValueError:
        return None
    return path if path.is_file() else None


def latest_image(folder: Path) -> Path | None:
    """The newest image of a run: ``final.png``, else its last intermediate step."""
    final = folder / "final.png"
    if final.is_file():
        return final
    steps = step_images(folder)
    return folder / steps[-1] if steps else None


def remove_unstarted(folder: Path) -> bool:
    """Delete a folder the studio created for a run that never started (it holds only
    ``studio.json`` and copies of uploaded inputs). Anything else in it: keep it, return False."""
    allowed = {STUDIO_FILE, INPUTS}
    try:
        names = {entry.name for entry in os.scandir(folder)}
    except OSError:
        return False
    if not names <= allowed or read_studio(folder) is None:
        return False
    shutil.rmtree(folder)
    return True
