"""`pixengine serve` as a process: Ctrl-C stops it in order (a running job keeps its image and
a resumable checkpoint, as Ctrl-C does to `pixengine run`), and a server killed outright leaves
no worker behind and no run marked running."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytest.importorskip("fastapi", reason="the studio's extra is not installed: pip install 'pixengine[serve]'")
httpx = pytest.importorskip("httpx")

from serve_fixtures import ENDLESS  # noqa: E402
from studio_browser import running_server  # noqa: E402

from pixengine.outputs import read_run_document  # noqa: E402
from pixengine.rundir import summarize  # noqa: E402


def _start_endless(url: str) -> str:
    answer = httpx.post(url + "api/runs", json={"preset": "repaint", "overrides": ENDLESS}, timeout=60)
    assert answer.status_code == 200, answer.text
    run_id = answer.json()["id"]
    deadline = time.monotonic() + 90
    while httpx.get(url + f"api/runs/{run_id}", timeout=30).json()["step"] < 2:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.2)
    return run_id


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is gone for our purpose
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_ctrl_c_stops_the_server_and_its_runs_in_order(tmp_path):
    outputs = tmp_path / "outputs"
    with running_server(outputs) as server:
        run_id = _start_endless(server.url)
        assert server.stop(signal.SIGINT) == 0, server.output
    folder = outputs / run_id
    document = read_run_document(folder / "final.png")
    assert document["status"] == "interrupted" and document["step"] >= 2
    assert (folder / "checkpoint.pt").is_file()
    assert "Traceback" not in server.output, server.output


def test_a_killed_server_leaves_no_worker_and_no_run_marked_running(tmp_path):
    outputs = tmp_path / "outputs"
    with running_server(outputs) as server:
        run_id = _start_endless(server.url)
        workers = httpx.get(server.url + "api/info", timeout=30).json()["pids"]["workers"]
        assert workers
        server.stop(signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not all(_gone(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker outlived its server"
            time.sleep(0.2)
    summary = summarize(outputs / run_id)
    assert summary.status == "interrupted" and summary.resumable  # the worker stopped it as Ctrl-C would
