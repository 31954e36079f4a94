"""What the studio keeps and how it guards itself: the index rebuilt from run folders, runs
that survive a restart, the token, Host and Origin checks, one studio per outputs folder, and
a CLI that stays light."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="the studio's extra is not installed: pip install 'pixengine[serve]'")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from serve_fixtures import ENDLESS, finished, start, studio_client, wait_for  # noqa: E402

import pixengine  # noqa: E402
from pixengine.serve import folders  # noqa: E402
from pixengine.serve.settings import StudioSettings, token_for  # noqa: E402


def _cli_run(outputs, name, steps=4, **overrides):
    return pixengine.run("repaint", "made on the command line", output_dir=str(outputs / name), steps=steps,
                         width=32, height=32, progress=False, save_every=0, **overrides)


def _records(client):
    return {r["id"]: {k: r[k] for k in ("status", "preset", "prompt", "step", "steps", "files", "origin", "started")}
            for r in client.get("/api/runs", params={"limit": 1000}).json()["runs"]}


def test_the_index_is_rebuilt_from_the_run_folders(tmp_path):
    outputs = tmp_path / "outputs"
    _cli_run(outputs, "repaint-first")
    _cli_run(outputs, "sweep/seed-1", seed=1)  # nested, as variations are
    (outputs / "not-a-run").mkdir(parents=True)
    with studio_client(outputs, workers=0) as client:
        before = _records(client)
        assert set(before) == {"repaint-first", "sweep~seed-1"}
        assert before["repaint-first"]["origin"] == "cli" and before["repaint-first"]["status"] == "finished"
        _cli_run(outputs, "repaint-later")  # made while the studio runs: the gallery sees it
        deadline = time.monotonic() + 10
        while "repaint-later" not in _records(client):
            assert time.monotonic() < deadline, "a run made on the command line never reached the gallery"
            time.sleep(0.2)
        assert client.get("/api/runs/sweep~seed-1").json()["seed"] == 1
    (outputs / ".studio" / "index.sqlite").unlink()
    with studio_client(outputs, workers=0) as client:
        rebuilt = _records(client)
    assert set(rebuilt) == {"repaint-first", "sweep~seed-1", "repaint-later"}
    assert {k: rebuilt[k] for k in before} == before
    (outputs / ".studio" / "index.sqlite").write_bytes(b"garbage, not a database")
    with studio_client(outputs, workers=0) as client:
        assert _records(client) == rebuilt


def test_folder_status_follows_the_folder(tmp_path):
    outputs = tmp_path / "outputs"
    result = _cli_run(outputs, "cli-run")
    record = folders.describe(outputs, result.output_dir)
    assert (record.status, record.step, record.resumable) == ("finished", 4, False)
    # A run whose process died: run.yaml still says running, nobody holds the lock.
    text = (result.output_dir / "run.yaml").read_text().replace("status: finished", "status: running")
    (result.output_dir / "run.yaml").write_text(text)
    record = folders.describe(outputs, result.output_dir)
    assert record.status == "interrupted" and record.resumable
    assert folders.describe(outputs, outputs) is None  # the outputs folder itself is not a run


def test_a_restart_interrupts_running_runs_resumably_and_keeps_the_queue(tmp_path):
    outputs = tmp_path / "outputs"
    with studio_client(outputs, workers=1) as client:
        running = start(client, **{**ENDLESS, "save_every": 0})
        waiting = start(client, prompt="still waiting")
        wait_for(client, running, lambda r: r["status"] == "running" and r["step"] >= 2)
    # The server stopped: the running job was stopped as Ctrl-C would, the waiting one kept.
    assert (outputs / running / "checkpoint.pt").is_file()
    with studio_client(outputs, workers=0) as client:
        run = client.get(f"/api/runs/{running}").json()
        assert run["status"] == "interrupted" and run["resumable"] and run["step"] >= 2
        queued = client.get(f"/api/runs/{waiting}").json()
        assert queued["status"] == "queued"  # its studio.json still says so
    with studio_client(outputs, workers=1) as client:
        assert finished(client, waiting)["prompt"] == "still waiting"  # the queue survived
        client.post(f"/api/runs/{running}/resume", json={"steps": run["step"] + 3})
        assert finished(client, running)["step"] == run["step"] + 3


def test_a_killed_worker_leaves_an_interrupted_run_and_is_replaced(tmp_path):
    import os
    import signal

    outputs = tmp_path / "outputs"
    with studio_client(outputs, workers=1) as client:
        run_id = start(client, **{**ENDLESS, "save_every": 2})
        wait_for(client, run_id, lambda r: r["status"] == "running" and r["step"] >= 4)
        [pid] = client.get("/api/info").json()["pids"]["workers"]
        os.kill(pid, signal.SIGKILL)
        run = wait_for(client, run_id, lambda r: r["status"] not in ("queued", "running"), timeout=30)
        assert run["status"] == "interrupted" and run["resumable"]  # from its last save_every checkpoint
        assert "worker process died" in run["error"]
        assert finished(client, start(client))["status"] == "finished"  # a new worker took over


def test_one_studio_per_outputs_folder(tmp_path):
    from pixengine.serve.studio import Studio, StudioBusy

    first = Studio(StudioSettings(outputs=tmp_path / "outputs", workers=0))
    with pytest.raises(StudioBusy, match="another pixengine studio"):
        Studio(StudioSettings(outputs=tmp_path / "outputs", workers=0))
    first.stop()
    Studio(StudioSettings(outputs=tmp_path / "outputs", workers=0)).stop()


def test_beyond_loopback_a_token_is_required_and_generated():
    assert token_for("127.0.0.1", None) is None and token_for("localhost", None) is None
    assert token_for("::1", None) is None
    generated = token_for("0.0.0.0", None)
    assert generated and len(generated) >= 24 and generated != token_for("0.0.0.0", None)
    assert token_for("192.168.1.5", "mine") == "mine"


def test_every_request_carries_the_token(tmp_path):
    with studio_client(tmp_path / "outputs", workers=0, token="s3cret") as client:
        for path in ("/", "/api/presets", "/static/js/main.js", "/openapi.json"):
            answer = client.get(path)
            assert answer.status_code == 401 and "token" in answer.json()["detail"], path
        assert client.get("/api/presets", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/presets", headers={"authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/api/presets", headers={"x-pixengine-token": "s3cret"}).status_code == 200
        # The printed address carries it once; the page then lives on a cookie.
        answer = client.get("/?token=s3cret", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        assert "httponly" in answer.headers["set-cookie"].lower() and "samesite=strict" in answer.headers["set-cookie"].lower()
        assert client.get("/api/presets").status_code == 200  # the client kept the cookie
        assert client.get("/").status_code == 200


def test_loopback_studios_refuse_other_hosts_and_cross_site_writes(tmp_path):
    with studio_client(tmp_path / "outputs", workers=0) as client:
        answer = client.get("/api/presets", headers={"host": "evil.example:8765"})
        assert answer.status_code == 403 and "evil.example" in answer.json()["detail"]
        assert client.get("/api/presets", headers={"host": "localhost:8765"}).status_code == 200
        answer = client.post("/api/validate", json={"preset": "repaint"}, headers={"origin": "https://evil.example"})
        assert answer.status_code == 403 and "cross-site" in answer.json()["detail"]
        same = client.post("/api/validate", json={"preset": "repaint"}, headers={"origin": "http://127.0.0.1:8765"})
        assert same.status_code == 200
        big = client.post("/api/validate", content=b"{" + b" " * 2_000_000 + b"}", headers={"content-type": "application/json"})
        assert big.status_code == 413
        headers = client.get("/").headers
        assert "script-src 'self'" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"


def test_the_serve_command_imports_nothing_heavy_until_it_runs():
    code = ("import sys, argparse; from pixengine.serve.cli import add_parser; "
            "p = argparse.ArgumentParser(); add_parser(p.add_subparsers()); "
            "print(sorted(m for m in ('torch', 'fastapi', 'uvicorn', 'starlette') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_serve_is_a_pixengine_command(capsys):
    from pixengine.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--outputs DIR" in out and "--workers N" in out and "--token" in out and "8765" in out
    assert main(["serve", "--workers", "0"]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_every_page_file_ships_in_the_wheel():
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    package_data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    static = root / "pixengine" / "serve" / "static"
    files = [p for p in static.rglob("*") if p.is_file()]
    assert any(p.name == "index.html" for p in files)
    for path in files:
        package = ".".join(["pixengine", *path.parent.relative_to(root / "pixengine").parts])
        assert any(fnmatch.fnmatch(path.name, pattern) for pattern in package_data.get(package, [])), path
