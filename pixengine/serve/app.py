"""The studio's ASGI application: the HTTP API under /api, the page under /, the security
checks around both, and the studio's start and stop (index, worker processes) as its lifespan."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from . import errors
from .routes import events, presets, runs, uploads
from .security import Guard
from .settings import StudioSettings
from .studio import Studio

STATIC = Path(__file__).parent / "static"

DESCRIPTION = """The HTTP API of pixengine's web studio. The studio's own page uses nothing else.

Errors answer `{"detail": "...", "errors": [{"key": "losses.tv.weight", "message": "..."}]}` with a 4xx
status. A studio bound beyond loopback needs its token: `Authorization: Bearer TOKEN`."""


def create_app(settings: StudioSettings, studio: Studio | None = None) -> FastAPI:
    studio = studio or Studio(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(studio.start)
        try:
            yield
        finally:
            await run_in_threadpool(studio.stop)

    app = FastAPI(title="pixengine studio", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # the interactive docs load scripts from a CDN: not offline
    app.state.studio = studio
    errors.install(app)
    for module in (presets, runs, events, uploads):
        app.include_router(module.router)

    @app.get("/api/info", tags=["studio"], summary="The studio's version, outputs folder and abilities")
    def info() -> dict:
        return {"version": __version__, "outputs": str(settings.outputs), "workers": settings.workers,
                "token": bool(settings.token),
                "max_upload_bytes": settings.max_upload_bytes, "max_batch": settings.max_batch,
                "pids": {"server": os.getpid(), "workers": studio.queue.worker_pids() if studio.queue else []}}

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, settings=settings)
    return app
