"""The studio's services, which the HTTP routes call: the index, uploads, dropped recipes, the
queue of worker processes and the live hub, and what happens when a worker reports.

Routes stay thin (parse, call one method here, answer); everything here speaks Python and
raises :class:`~pixengine.serve.errors.ApiError` for the client's mistakes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from ..errors import PixengineError
from ..rundir import LOG_NAME, RunFolderBusy, RunFolderLock, log_records, read_holder
from . import bases, catalog, folders, submissions
from .errors import ApiError, keyed, not_found
from .folders import RunRecord
from .index import RunIndex
from .live import LiveHub
from .queue import RunQueue
from .settings import StudioSettings
from .uploads import UploadStore

#: Seconds between scans of the outputs folder while a page listens (runs made on the CLI).
SCAN_SECONDS = 3.0
#: The gallery's list rescans at most this often when asked.
LIST_RESCAN_SECONDS = 0.5
#: At most this many log records go to a chart.
CHART_POINTS = 1000


class StudioBusy(PixengineError):
    """Another studio serves the same outputs folder."""


class Studio:
    def __init__(self, settings: StudioSettings):
        self.settings = settings
        state = settings.state_folder
        state.mkdir(parents=True, exist_ok=True)
        # One studio per outputs folder: two would run each other's queued jobs twice.
        self._state_lock = RunFolderLock(state)
        try:
            self._state_lock.acquire()
        except RunFolderBusy:
            holder = read_holder(self._state_lock.path)
            raise StudioBusy(
                f"another pixengine studio (process {holder.get('pid')}, since {holder.get('started')}) serves "
                f"{settings.outputs}; stop it, or give another --outputs"
            ) from None
        self.index = RunIndex(settings.outputs, state / "index.sqlite")
        self.uploads = UploadStore(state / "uploads", max_bytes=settings.max_upload_bytes,
                                   max_pixels=settings.max_upload_pixels)
        self.dropped = bases.DroppedRecipes(state / "recipes", max_bytes=settings.max_upload_bytes)
        self.thumbs = state / "thumbs"
        self.hub = LiveHub()
        self.queue = RunQueue(settings.workers, self._on_worker_event) if settings.workers > 0 else None
        self.stopping = threading.Event()
        self._last_scan = 0.0
        self._started = False

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        self.index.refresh()
        self.uploads.prune()
        if self.queue is not None:
            for job in self._queued_jobs():
                self.queue.submit(job)
            self.queue.start()
        threading.Thread(target=self._scan_while_watched, name="studio-scanner", daemon=True).start()
        threading.Thread(target=self._warm_up, name="studio-warm-up", daemon=True).start()
        self._started = True

    def stop(self) -> None:
        self.stopping.set()
        if self.queue is not None:
            self.queue.stop(self.settings.stop_timeout)
        if self._started:
            self.index.refresh()
        self.index.close()
        self._state_lock.release()

    def _queued_jobs(self) -> list[dict]:
        """The jobs that were waiting when the server last stopped, oldest first (the folders
        say so: their studio.json is still 'queued')."""
        records, _ = self.index.list(status="queued", limit=10_000)
        jobs = []
        for record in records:
            studio = folders.read_studio(Path(record.folder)) or {}
            job = studio.get("request")
            if isinstance(job, dict) and job.get("id") == record.id:
                jobs.append((studio.get("updated") or "", job))
        return [job for _, job in sorted(jobs, key=lambda item: item[0])]

    def _warm_up(self) -> None:
        """Load torch and the plugins now, so the first form does not wait for them."""
        try:
            catalog.registry()
            import pixengine.api  # noqa: F401
        except Exception:  # a broken plugin shows when it is used; warming up is only a favour
            pass

    def _scan_while_watched(self) -> None:
        while not self.stopping.wait(SCAN_SECONDS):
            if self.hub.listeners:
                self._rescan()

    def _rescan(self) -> None:
        changed = self.index.refresh()
        self._last_scan = time.monotonic()
        if changed:
            self.hub.send_global("runs", {"changed": changed})

    # -- runs ----------------------------------------------------------------------------------

    def folder(self, run_id: str) -> Path:
        folder = self.index.folder_of(run_id)
        if folder is None:
            self.index.refresh()  # a run made on the CLI a moment ago
            folder = self.index.folder_of(run_id)
        if folder is None:
            raise not_found(f"no run '{run_id}' in {self.settings.outputs}")
        return folder

    def record(self, run_id: str) -> RunRecord:
        folder = self.folder(run_id)
        record = self.index.refresh_folder(folder)
        if record is None:
            raise not_found(f"run '{run_id}' is no longer in {self.settings.outputs}")
        return record

    def with_live(self, record: RunRecord, *, ended: bool = False) -> dict:
        """A record as the API shows it: with the queue's and the live run's word on it
        (``ended``: the queue's word is out of date, the job has just ended)."""
        data = record.as_dict()
        position = self.queue.position(record.id) if self.queue is not None and not ended else None
        if position == 0:
            data["status"] = "running"
        elif position is not None:
            data["status"] = "queued"
        data["queue_position"] = position
        live = self.hub.get(record.id)
        if live is not None and live.records:
            data.update(step=live.step, steps=live.steps or data["steps"], total=live.total, losses=live.losses)
        data["seconds_per_step"] = live.seconds_per_step() if live else (
            record.seconds / record.step if record.seconds and record.step else None)
        data["eta"] = live.eta() if live else None
        base = f"/api/runs/{record.id}"
        data["urls"] = {"image": f"{base}/image", "thumbnail": f"{base}/thumbnail", "events": f"{base}/events",
                        **{name: f"{base}/files/{name}" for name in record.files}}
        data.pop("folder", None)  # the page has no use for server paths
        return data

    def list_runs(self, **filters: Any) -> dict:
        if time.monotonic() - self._last_scan >= LIST_RESCAN_SECONDS:
            self._rescan()
        records, total = self.index.list(**filters)
        return {"runs": [self.with_live(record) for record in records], "total": total,
                "presets": self.index.presets()}

    def run(self, run_id: str) -> dict:
        record = self.record(run_id)
        data = self.with_live(record)
        data["step_images"] = folders.step_images(Path(record.folder))
        data["shareable"] = record.status in ("finished", "interrupted")
        return data

    def submit(self, *, preset: str | None, recipe: str | None, prompt: str | None, overrides: dict,
               override_lines: list[str], count: int) -> list[str]:
        if self.queue is None:
            raise ApiError(503, "this studio has no worker processes (--workers 0): it cannot run anything")
        if not 1 <= count <= self.settings.max_batch:
            raise keyed([("count", f"count must be between 1 and {self.settings.max_batch}, got {count}")])
        checked = self.check(preset=preset, recipe=recipe, prompt=prompt, overrides=overrides, override_lines=override_lines)
        jobs = submissions.submit(checked, self.settings.outputs, self.uploads, count=count)
        for job in jobs:
            self.index.refresh_folder(Path(job["folder"]))
            self.queue.submit(job)
        self.hub.send_global("queue", self.queue_snapshot())
        return [job["id"] for job in jobs]

    def check(self, *, preset: str | None, recipe: str | None, prompt: str | None, overrides: dict,
              override_lines: list[str]) -> submissions.Checked:
        base = submissions.base_of(preset, recipe, self.index, self.dropped)
        return submissions.check(base, prompt, overrides, override_lines, self.uploads)

    def cancel(self, run_id: str) -> dict:
        record = self.record(run_id)
        outcome = self.queue.cancel(run_id) if self.queue is not None else None
        folder = Path(record.folder)
        if outcome == "removed":
            studio = folders.read_studio(folder) or {}
            if (studio.get("request") or {}).get("kind") == "resume" or not folders.remove_unstarted(folder):
                folders.update_studio(folder, state="done")  # a stopped run that was waiting to go on
                self.index.refresh_folder(folder)
            else:
                self.index.forget(run_id)
            self.hub.send_run(run_id, "end", {"id": run_id, "status": "cancelled"})
            self.hub.send_global("queue", self.queue_snapshot())
            return {"id": run_id, "status": "cancelled"}
        if outcome == "stopping":
            return {"id": run_id, "status": "running", "cancelling": True}
        if record.status == "running":
            raise ApiError(409, f"run '{run_id}' is running outside this studio (started on the command line?); stop it there")
        raise ApiError(409, f"run '{run_id}' is not running: it is {record.status}")

    def resume(self, run_id: str, steps: int | None) -> dict:
        if self.queue is None:
            raise ApiError(503, "this studio has no worker processes (--workers 0): it cannot run anything")
        record = self.record(run_id)
        data = self.with_live(record)
        if data["status"] in ("queued", "running"):
            raise ApiError(409, f"run '{run_id}' is already {data['status']}")
        folder = Path(record.folder)
        studio = folders.read_studio(folder) or {}
        if (folder / "checkpoint.pt").is_file():
            if steps is not None and steps <= record.step:
                raise keyed([("steps", f"run '{run_id}' has done {record.step} steps; to go on, give more than that")])
            if record.status == "finished" and steps is None:
                raise keyed([("steps", f"run '{run_id}' finished its {record.steps} steps; give steps (more than "
                                       f"{record.step}) to go on")])
            overrides = {"steps": steps} if steps is not None else {}
            self._check_resume(folder, overrides)
            job = {"id": run_id, "folder": str(folder), "kind": "resume", "overrides": overrides}
        elif record.step == 0 and isinstance(studio.get("request"), dict) and studio["request"].get("kind") == "run":
            job = studio["request"]  # it never got going (stopped while building): start it afresh
        else:
            raise ApiError(409, f"run '{run_id}' cannot be resumed: it has no checkpoint.pt (checkpoints were off, or "
                                "it stopped before its first save_every step)")
        folders.update_studio(folder, state="queued", request=job, error=None,
                              **({"original": studio["request"]} if studio.get("request") and job is not studio.get("request") else {}))
        self.index.refresh_folder(folder)
        self.queue.submit(job)
        self.hub.send_global("queue", self.queue_snapshot())
        return {"id": run_id, "status": "queued"}

    def _check_resume(self, folder: Path, overrides: dict) -> None:
        import pixengine
        from ..errors import ConfigError

        try:
            pixengine.resolve(resume=folder, overrides=overrides)
        except ConfigError as exc:
            raise keyed([(exc.key or "steps", str(exc))]) from None

    def queue_snapshot(self) -> dict:
        if self.queue is None:
            return {"running": [], "pending": [], "workers": 0}
        return self.queue.snapshot()

    def log(self, run_id: str, points: int = CHART_POINTS) -> dict:
        """The run's log.jsonl as chart points (thinned to about ``points``)."""
        folder = self.folder(run_id)
        records = [{k: record.get(k) for k in ("step", "total", "losses", "seconds")} for record in log_records(folder / LOG_NAME)]
        stride = max(1, -(-len(records) // max(1, points)))
        thinned = records[::stride]
        if records and thinned[-1] is not records[-1]:
            thinned.append(records[-1])
        return {"records": thinned, "count": len(records)}

    # -- the workers' reports (called in the queue's event thread) ---------------------------

    def _on_worker_event(self, event: dict) -> None:
        kind, job_id = event.get("type"), event.get("job")
        if kind == "ready":
            self.hub.send_global("queue", self.queue_snapshot())
            return
        if job_id is None:
            return
        if kind == "dispatched":
            self.hub.start(job_id, "running")
            self.hub.send_global("queue", self.queue_snapshot())
        elif kind == "started":
            live = self.hub.start(job_id, "running")
            self.hub.send_run(job_id, "status", live.progress([], with_image=False))
            self._announce(job_id)
        elif kind == "run_start":
            live = self.hub.start(job_id, "running", event.get("steps") or 0)
            live.step, live.width, live.height = event.get("step", 0), event.get("width"), event.get("height")
            self.hub.send_run(job_id, "status", live.progress([], with_image=False))
        elif kind == "progress":
            live = self.hub.start(job_id, "running")
            live.add(event.get("records") or [])
            if event.get("image") is not None:
                live.image, live.image_step, live.image_at = event["image"], event.get("image_step"), event.get("image_at")
            self.hub.send_run(job_id, "progress", live.progress(event.get("records") or [], with_image=event.get("image") is not None))
            self.hub.send_global("progress", {"id": job_id, "step": live.step, "steps": live.steps, "status": "running"},
                                 throttle_key=job_id, throttle=0.5)
        elif kind == "run_end":
            live = self.hub.get(job_id)
            if live is not None:
                live.status = {"nonfinite": "failed"}.get(event.get("status"), event.get("status") or live.status)
                self.hub.send_run(job_id, "status", live.progress([], with_image=False))
        elif kind == "done":
            folder = self.index.folder_of(job_id)
            if folder is not None and event.get("outcome") == "crashed":
                folders.update_studio(folder, error=event.get("error"))
            record = self.index.refresh_folder(folder) if folder is not None else None
            self.hub.finish(job_id)
            end = self.with_live(record, ended=True) if record is not None else {"id": job_id, "status": "failed"}
            self.hub.send_run(job_id, "end", end)
            self.hub.send_global("run", end)
            self.hub.send_global("queue", self.queue_snapshot())

    def _announce(self, run_id: str) -> None:
        folder = self.index.folder_of(run_id)
        record = self.index.refresh_folder(folder) if folder is not None else None
        if record is not None:
            self.hub.send_global("run", self.with_live(record))
