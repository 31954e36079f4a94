"""The studio's parts called directly, in-process: what the worker process and the `serve`
command do (they run in other processes in the other studio tests), re-running a
recipe that used the user's own files, and uploads in modes PNG cannot store."""

from __future__ import annotations

import io
import queue
import signal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from PIL import Image

pytest.importorskip("fastapi", reason="the studio's extra is not installed: pip install 'pixengine[serve]'")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from serve_fixtures import studio_client

from pixengine.outputs import save_png


def _drain(events: queue.Queue) -> list[dict]:
    messages = []
    while not events.empty():
        messages.append(events.get_nowait())
    return messages


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A studio without workers: enough for everything that does not run a job."""
    with studio_client(tmp_path_factory.mktemp("units") / "outputs", workers=0) as client:
        yield client


# -- the serve command ------------------------------------------------------------------------------


def test_serve_accepts_one_worker_and_refuses_zero(tmp_path, monkeypatch, capsys):
    from pixengine.cli import main
    from pixengine.serve import cli as serve_cli

    served = []

    def serve(app, sock):  # instead of uvicorn: note what would be served, then stop
        served.append((app.state.studio.settings, sock.getsockname()))
        sock.close()
        app.state.studio.stop()

    monkeypatch.setattr(serve_cli, "_serve", serve)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert main(["serve", "--workers", "1", "--port", "0", "--host", "127.0.0.1",
                     "--outputs", str(tmp_path / "outputs")]) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    [(settings, (host, port))] = served
    assert settings.workers == 1 and host == "127.0.0.1" and port > 0
    out = capsys.readouterr().out
    assert f"pixengine studio on http://127.0.0.1:{port}/" in out and "workers: 1" in out
    assert main(["serve", "--workers", "0", "--outputs", str(tmp_path / "outputs")]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err


# -- the worker, in this process ---------------------------------------------------------------------


def test_a_worker_job_that_fails_reports_why_and_the_worker_goes_on(tmp_path):
    from pixengine.serve import folders
    from pixengine.serve.worker import Worker

    folder = tmp_path / "outputs" / "run-1"
    folder.mkdir(parents=True)
    events: queue.Queue = queue.Queue()
    worker = Worker(3, None, events)
    worker.run_job({"id": "run-1", "folder": str(folder), "kind": "run", "recipe": "no-such-preset", "prompt": None,
                    "overrides": {"output_dir": str(folder)}})  # returns: the worker takes the next job
    messages = _drain(events)
    assert messages[0] == {"type": "started", "worker": 3, "job": "run-1"}
    done = messages[-1]
    assert (done["type"], done["job"], done["worker"], done["outcome"]) == ("done", "run-1", 3, "failed")
    assert "unknown preset 'no-such-preset'" in done["error"]
    studio = folders.read_studio(folder)
    assert studio["state"] == "failed" and "no-such-preset" in studio["error"]
    assert "unknown preset 'no-such-preset'" in (folder / "console.log").read_text()


def test_the_reporter_sends_the_final_image_as_png_before_the_end_of_the_run():
    from pixengine.serve.live_hooks import Reporter

    events: queue.Queue = queue.Queue()
    reporter = Reporter("job-7", events)
    picture = Image.new("RGB", (16, 8), (10, 200, 30))
    picture.putpixel((3, 2), (255, 0, 255))
    reporter.run_ended(SimpleNamespace(step=5, steps=5), SimpleNamespace(image=picture, status="finished"))
    reporter.close()
    messages = _drain(events)
    assert [m["type"] for m in messages] == ["progress", "run_end"]
    progress, end = messages
    assert progress["job"] == "job-7" and progress["image_step"] == 5
    with Image.open(io.BytesIO(progress["image"])) as sent:
        assert sent.format == "PNG"
        assert np.array_equal(np.asarray(sent.convert("RGB")), np.asarray(picture))
    assert end == {"type": "run_end", "status": "finished", "step": 5, "steps": 5, "job": "job-7"}


# -- recipes ----------------------------------------------------------------------------------------------


def test_a_dropped_recipe_with_a_bad_option_is_refused_at_that_option(client, tmp_path):
    dropped = tmp_path / "bad.png"
    save_png(dropped, Image.new("RGB", (8, 8)), yaml.safe_dump({"config": {"preset": "repaint", "steps": -1}}))
    answer = client.post("/api/recipes", content=dropped.read_bytes())
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["key"] == "steps" and "-1 must be at least 0" in error["message"]


def test_a_preset_form_with_a_malformed_prompt_names_the_prompt():
    from pixengine.serve import bases
    from pixengine.serve.errors import ApiError

    with pytest.raises(ApiError) as refused:
        bases.form_spec(bases.preset("repaint"), prompt="a cat:1:")
    assert refused.value.status == 422
    [error] = refused.value.errors
    assert error["key"] == "prompt" and "malformed prompt" in error["message"]


def test_rerunning_a_run_that_used_a_local_image_copies_it_into_the_new_run(tmp_path):
    import pixengine
    from pixengine.serve import bases, submissions
    from pixengine.serve.uploads import UploadStore

    outputs = tmp_path / "outputs"
    picture = tmp_path / "mine.png"
    Image.new("RGB", (24, 16), (250, 250, 0)).save(picture)
    pixengine.run("repaint", "mine", output_dir=str(outputs / "cli-run"), steps=1, width=16, height=16,
                  progress=False, save_every=0, overrides={"losses.layout.image": str(picture)})
    store = UploadStore(tmp_path / "uploads", max_bytes=10_000_000, max_pixels=10_000_000)
    checked = submissions.check(bases.of_run("cli-run", outputs / "cli-run"), None, {}, [], store)
    [job] = submissions.submit(checked, outputs, store)
    folder = Path(job["folder"])
    copy = Path(job["overrides"]["losses.layout.image"])
    assert copy.parent == folder / "inputs"  # the new run holds what it needs to be re-run
    with Image.open(copy) as copied, Image.open(picture) as original:
        assert np.array_equal(np.asarray(copied), np.asarray(original))


# -- uploads ------------------------------------------------------------------------------------------------


def test_a_cmyk_jpeg_upload_is_stored_as_an_rgb_png(client):
    jpeg = io.BytesIO()
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(jpeg, format="JPEG", quality=95)  # red
    answer = client.post("/api/uploads", content=jpeg.getvalue())
    assert answer.status_code == 200, answer.text
    assert answer.json()["format"] == "JPEG" and (answer.json()["width"], answer.json()["height"]) == (20, 10)
    with Image.open(io.BytesIO(client.get(answer.json()["url"]).content)) as stored:
        assert stored.format == "PNG" and stored.mode == "RGB"
        red, green, blue = stored.getpixel((10, 5))
        assert red > 200 and green < 60 and blue < 60
