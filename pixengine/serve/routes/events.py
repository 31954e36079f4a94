"""Server-sent event streams: one run's progress and images, and every run's changes.

A run's stream opens with ``snapshot`` (its state, the loss records so far and the newest
image), then sends ``status``, ``progress`` (new loss records, and the image when a new one
came) and ``end``, after which it closes. The global stream sends ``queue``, ``run`` (a run's
new state), ``progress`` (a step count, at most twice a second per run) and ``runs`` (the
outputs folder changed: a run made on the command line).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..live import data_url
from ..models import ERRORS
from ..studio import Studio
from . import get_studio

router = APIRouter(prefix="/api", tags=["events"], responses=ERRORS)

KEEPALIVE_SECONDS = 15.0
#: How often a waiting stream checks whether the server is stopping.
POLL_SECONDS = 0.5
_STREAM = {200: {"content": {"text/event-stream": {}}, "description": "a stream of server-sent events"}}


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _streaming(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


async def _relay(studio: Studio, stream, until_end: bool) -> AsyncIterator[str]:
    quiet_since = time.monotonic()
    while not studio.stopping.is_set():
        try:
            event, data = await asyncio.wait_for(stream.queue.get(), timeout=POLL_SECONDS)
        except asyncio.TimeoutError:
            if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            continue
        quiet_since = time.monotonic()
        yield sse(event, data)
        if until_end and event == "end":
            return


@router.get("/runs/{run_id}/events", summary="The live stream of one run (server-sent events)", responses=_STREAM)
async def run_events(run_id: str, studio: Studio = Depends(get_studio)):
    await run_in_threadpool(studio.folder, run_id)  # an unknown run is a 404, before any stream

    async def events() -> AsyncIterator[str]:
        stream = studio.hub.open(run_id)  # before the snapshot, so nothing falls between
        try:
            current = await run_in_threadpool(studio.run, run_id)
            live = studio.hub.get(run_id)
            if live is not None:
                current["records"] = list(live.records)
                if live.image is not None:
                    current.update(image=data_url(live.image), image_step=live.image_step, image_at=live.image_at)
            yield "retry: 2000\n" + sse("snapshot", current)
            if current["status"] not in ("queued", "running"):
                yield sse("end", current)
                return
            async for message in _relay(studio, stream, until_end=True):
                yield message
        finally:
            studio.hub.close(stream)

    return _streaming(events())


@router.get("/events", summary="Changes of every run and of the queue (server-sent events)", responses=_STREAM)
async def all_events(studio: Studio = Depends(get_studio)):
    async def events() -> AsyncIterator[str]:
        stream = studio.hub.open(None)
        try:
            yield "retry: 2000\n" + sse("queue", studio.queue_snapshot())
            async for message in _relay(studio, stream, until_end=False):
                yield message
        finally:
            studio.hub.close(stream)

    return _streaming(events())
