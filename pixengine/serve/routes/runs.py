"""Runs: queue one, list and read them, their files, cancel and resume, Share."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Optional

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from .. import bases, folders, thumbnails
from ..errors import keyed, not_found
from ..models import ERRORS, CheckResult, PromptText, ResumeRequest, RunCreated, RunInfo, RunRequest, Status
from ..studio import Studio
from . import get_studio

router = APIRouter(prefix="/api", tags=["runs"], responses=ERRORS)

MEDIA_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif", ".mp4": "video/mp4",
               ".jsonl": "text/plain; charset=utf-8", ".yaml": "text/plain; charset=utf-8", ".log": "text/plain; charset=utf-8"}


@router.post("/runs", summary="Queue a run (or count runs with seeds counting up)", response_model=RunCreated)
def create_run(body: RunRequest, studio: Studio = Depends(get_studio)) -> dict:
    ids = studio.submit(preset=body.preset, recipe=body.recipe, prompt=body.prompt, overrides=body.overrides,
                        override_lines=body.override_lines, count=body.count)
    return {"id": ids[0], "ids": ids}


@router.post("/validate", summary="Check a run request without queueing it (the form's live check)", response_model=CheckResult)
def validate_run(body: RunRequest, studio: Studio = Depends(get_studio)) -> dict:
    checked = studio.check(preset=body.preset, recipe=body.recipe, prompt=body.prompt, overrides=body.overrides,
                           override_lines=body.override_lines)
    settings = checked.spec.settings
    return {"ok": True, "preset": settings.preset, "steps": settings.steps, "width": settings.width,
            "height": settings.height, "seed": checked.spec.config.seed}


@router.post("/prompts/check", summary="Parse prompt text with pixengine's prompt grammar")
def check_prompt(body: PromptText) -> dict:
    from ...errors import ConfigError
    from ...prompts import parse_prompts

    try:
        prompts = parse_prompts(body.text, key="prompt")
    except ConfigError as exc:
        found = re.search(r"\(character (\d+)\)", exc.detail)
        error = keyed([("prompt", exc.detail)])
        error.errors[0]["position"] = int(found.group(1)) - 1 if found else None
        raise error from None
    return {"prompts": [{"text": p.text, "weight": p.weight, "stop": p.stop,
                         "start": str(p.start) if p.start else None, "end": str(p.end) if p.end else None} for p in prompts]}


@router.get("/runs", summary="Runs in the outputs folder, newest first")
def list_runs(preset: Optional[str] = None, q: Optional[str] = Query(None, description="text in the prompt, preset or id"),
              status: Optional[Status] = None, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
              studio: Studio = Depends(get_studio)) -> dict:
    return studio.list_runs(preset=preset, text=q, status=status, limit=limit, offset=offset)


@router.get("/queue", summary="Runs running and waiting")
def queue(studio: Studio = Depends(get_studio)) -> dict:
    return studio.queue_snapshot()


@router.get("/runs/{run_id}", summary="One run: status, step, losses, files", response_model=RunInfo)
def run(run_id: str, studio: Studio = Depends(get_studio)) -> dict:
    return studio.run(run_id)


@router.get("/runs/{run_id}/image", summary="The run's latest image (PNG)", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def image(run_id: str, studio: Studio = Depends(get_studio)):
    folder = studio.folder(run_id)
    live = studio.hub.get(run_id)
    if live is not None and live.image is not None:
        return Response(live.image, media_type="image/png", headers={"cache-control": "no-store"})
    latest = folders.latest_image(folder)
    if latest is None:
        raise not_found(f"run '{run_id}' has no image yet")
    return FileResponse(latest, media_type="image/png", headers={"cache-control": "no-cache"})


@router.get("/runs/{run_id}/thumbnail", summary="A small JPEG of the run's latest image", response_class=FileResponse)
def thumbnail(run_id: str, studio: Studio = Depends(get_studio)):
    latest = folders.latest_image(studio.folder(run_id))
    if latest is None:
        raise not_found(f"run '{run_id}' has no image yet")
    return FileResponse(thumbnails.thumbnail(latest, studio.thumbs), media_type="image/jpeg",
                        headers={"cache-control": "no-cache"})


@router.get("/runs/{run_id}/files/{name:path}", summary="A file of the run folder (final.png, final.svg, "
            "animation.gif, contact_sheet.png, log.jsonl, run.yaml, console.log, steps/..., inputs/...)",
            response_class=FileResponse)
def run_file(run_id: str, name: str, download: bool = False, studio: Studio = Depends(get_studio)):
    path = folders.served_file(studio.folder(run_id), name)
    if path is None:
        raise not_found(f"run '{run_id}' has no file '{name}' the studio serves")
    headers = {"cache-control": "no-cache"}
    filename = f"{run_id}-{Path(name).name}" if download else None
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix), headers=headers, filename=filename,
                        content_disposition_type="attachment" if download else "inline")


@router.get("/runs/{run_id}/log", summary="The run's log.jsonl as chart points")
def run_log(run_id: str, points: int = Query(1000, ge=10, le=20000), studio: Studio = Depends(get_studio)) -> dict:
    return studio.log(run_id, points)


@router.get("/runs/{run_id}/recipe", summary="The run's recipe and its form (Remix)")
def recipe(run_id: str, studio: Studio = Depends(get_studio)) -> dict:
    return bases.describe(bases.of_run(run_id, studio.folder(run_id)))


@router.get("/runs/{run_id}/bundle", summary="Share: the run as a recipe bundle (.zip) anyone can re-run",
            response_class=FileResponse)
async def bundle(run_id: str, studio: Studio = Depends(get_studio)):
    from ...sharing.bundle import write_bundle

    folder = studio.folder(run_id)
    scratch = Path(tempfile.mkdtemp(prefix="pixengine-share-"))
    try:
        path = (await run_in_threadpool(write_bundle, folder, scratch / f"{run_id}.zip")).path
    except Exception:
        _remove(scratch)
        raise
    return FileResponse(path, media_type="application/zip", filename=path.name,
                        background=BackgroundTask(_remove, scratch))


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


@router.post("/runs/{run_id}/cancel", summary="Stop a running run as Ctrl-C would (it keeps its image and a "
             "resumable checkpoint), or take a waiting one off the queue")
def cancel(run_id: str, studio: Studio = Depends(get_studio)) -> dict:
    return studio.cancel(run_id)


@router.post("/runs/{run_id}/resume", summary="Go on with a stopped run from its checkpoint (steps: extend a finished one)")
def resume(run_id: str, body: Optional[ResumeRequest] = None, studio: Studio = Depends(get_studio)) -> dict:
    return studio.resume(run_id, body.steps if body is not None else None)
