"""Helpers for the web studio's tests: an app on a temporary outputs folder, driven in-process
by FastAPI's test client, and waiting for runs."""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

#: Requests must name a loopback host (the studio refuses others on loopback).
BASE_URL = "http://127.0.0.1:8765"
#: A run that takes a few hundred milliseconds.
SMALL = {"width": 64, "height": 64, "steps": 12}
#: A run that goes on until it is cancelled.
ENDLESS = {"width": 64, "height": 64, "steps": 100_000, "save_every": 0}  # the most limits.max_steps allows


@contextmanager
def studio_client(outputs: Path, **settings):
    from fastapi.testclient import TestClient

    from pixengine.serve.app import create_app
    from pixengine.serve.settings import StudioSettings

    app = create_app(StudioSettings(outputs=outputs, **settings))
    with TestClient(app, base_url=BASE_URL) as client:
        client.studio = app.state.studio
        yield client


def wait_for(client, run_id: str, condition, timeout: float = 90.0) -> dict:
    """GET the run until ``condition(run)`` holds; the run."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/api/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        run = answer.json()
        if condition(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} never got there: {run}"
        time.sleep(0.1)


def finished(client, run_id: str, timeout: float = 90.0) -> dict:
    run = wait_for(client, run_id, lambda r: r["status"] not in ("queued", "running"), timeout)
    assert run["status"] == "finished", run
    return run


def start(client, preset: str = "repaint", prompt: str = "", **overrides) -> str:
    answer = client.post("/api/runs", json={"preset": preset, "prompt": prompt, "overrides": {**SMALL, **overrides}})
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def png_bytes(size=(32, 24), color=(200, 40, 40), mode="RGB", **info) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG", **info)
    return buffer.getvalue()


def sse_events(client, path: str, limit: int = 10_000) -> list[tuple[str, dict]]:
    """The events of a stream that ends by itself (a run's stream ends with ``end``)."""
    import json

    events, name = [], None
    with client.stream("GET", path) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line[5:])))
                if name == "end" or len(events) >= limit:
                    break
    return events
