"""Sweeps in local worker processes: run folders, index, sheet and info; every result the
same as the run made alone; resuming after the driver was killed; a killed worker's run
retried from its checkpoint; best-of-N."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import yaml
from PIL import Image

from pixengine import sweep
from pixengine.cli import main
from pixengine.rundir import is_locked
from pixengine.sweep import sheet
from sweep_helpers import GRID, TINY, KillMidway, alone, assert_same_as_alone, index_lines, log_totals, pixels


def test_a_2x2_grid_makes_run_folders_index_and_labelled_sheet_each_equal_to_its_run_alone(tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["sweep", "repaint", *GRID, *TINY, "-o", str(out), "--workers", "2"]) == 0
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["000-weight=0.05-seed=0", "001-weight=0.05-seed=1", "002-weight=0.2-seed=0", "003-weight=0.2-seed=1"]
    lines = index_lines(out)
    assert [line["id"] for line in lines] == runs
    first = lines[0]
    assert first["status"] == "finished" and first["step"] == 3 and first["seed"] == 0
    assert first["axes"] == {"losses.smooth.weight": "smooth.weight=0.05", "seed": "seed=0"}
    assert set(first["losses"]) == {"layout", "colors", "smooth"} and first["total"] == log_totals(out / "runs" / runs[0])[-1]
    assert first["seconds"] > 0 and first["path"] == f"runs/{runs[0]}" and first["final"] == f"runs/{runs[0]}/final.png"
    header = (out / "index.csv").read_text().splitlines()[0]
    assert header == "id,status,seed,losses.smooth.weight,seed,step,steps,total,layout,colors,smooth,seconds,path"
    # The sheet: two columns (seeds) under their labels, two rows (weights).
    with Image.open(out / "sheet.png") as image:
        assert image.height == 18 + sheet.PAD + 2 * (sheet.CELL + 16 + sheet.PAD)
        cells_width = 2 * (sheet.CELL + sheet.PAD)
        assert image.width > cells_width and image.width < cells_width + 200
    info = capsys.readouterr().out
    assert "4 finished" in info and "best by total:" in info
    assert_same_as_alone(out, tmp_path, TINY)

    # The same command again finds everything finished and runs nothing.
    before = {run: (out / "runs" / run / "run.yaml").read_bytes() for run in runs}
    capsys.readouterr()
    assert main(["sweep", "repaint", *GRID, *TINY, "-o", str(out)]) == 0
    assert "[1/" not in capsys.readouterr().out
    assert before == {run: (out / "runs" / run / "run.yaml").read_bytes() for run in runs}
    # The index is rebuilt from the run folders alone.
    written = (out / "index.jsonl").read_text()
    (out / "index.jsonl").unlink()
    from pixengine.sweep import index

    assert [json.dumps(line, default=str) for line in index.build(out)] == written.splitlines()
    # pixengine info reads the folders.
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 runs of repaint over losses.smooth.weight (2) x seed (2)" in text
    assert "1. 000-weight=0.05-seed=0" in text  # the smallest total


LONG = ["steps=150", "width=48", "height=48", "save_every=10"]


def test_a_sweep_whose_driver_was_killed_goes_on_without_redoing_finished_runs(tmp_path):
    out = tmp_path / "sw"
    command = [sys.executable, "-m", "pixengine", "sweep", "repaint", "--seeds", "3", *LONG, "-o", str(out)]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first, second = out / "runs" / "000-seed=0", out / "runs" / "001-seed=1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = (first / "run.yaml").is_file() and yaml.safe_load((first / "run.yaml").read_text())["status"] == "finished"
        if done and (second / "checkpoint.pt").is_file() and len((second / "log.jsonl").read_text().splitlines()) >= 20:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the sweep did not get midway in time")
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 30
    while is_locked(second) and time.monotonic() < deadline:  # its worker stops with the driver
        time.sleep(0.05)
    assert not is_locked(second)
    finished = (first / "run.yaml").read_bytes(), (first / "log.jsonl").read_bytes()
    assert not (out / "runs" / "002-seed=2" / "final.png").exists()

    result = sweep.run(out, workers=1, echo=lambda line: None)  # the folder: go on with it
    assert [line["status"] for line in result.entries] == ["finished"] * 3
    assert ((first / "run.yaml").read_bytes(), (first / "log.jsonl").read_bytes()) == finished  # not rerun
    assert yaml.safe_load((second / "run.yaml").read_text())["resumed_at"][0] >= 10  # from its checkpoint
    assert result.submitted == 2
    assert_same_as_alone(out, tmp_path, LONG)


def test_a_worker_killed_during_a_run_is_replaced_and_the_run_resumes_from_its_checkpoint(tmp_path):
    spec = sweep.spec.from_data({"recipe": "repaint", "seeds": 2,
                                 "overrides": {"steps": 150, "width": 48, "height": 48, "save_every": 10}}, "test")
    out = tmp_path / "sw"
    killer = KillMidway(out / "runs" / "000-seed=0", after=25)
    killer.start()
    result = sweep.run(spec, output=out, workers=1, echo=lambda line: None)
    killer.join()
    assert killer.killed is not None and killer.killed != os.getpid()
    assert [line["status"] for line in result.entries] == ["finished", "finished"]
    document = yaml.safe_load((out / "runs" / "000-seed=0" / "run.yaml").read_text())
    assert 10 <= document["resumed_at"][0] <= killer.at_step  # not from step 0
    assert_same_as_alone(out, tmp_path, LONG)


def test_best_of_n_stops_the_worst_early_and_only_k_finish_each_as_if_run_alone(tmp_path, capsys):
    out = tmp_path / "sw"
    settings = ["steps=8", "width=48", "height=48", "save_every=0"]
    assert main(["sweep", "repaint", "--seeds", "4", "--keep-best", "1", "--by", "layout", *settings, "-o", str(out)]) == 0
    lines = index_lines(out)
    statuses = sorted(line["status"] for line in lines)
    assert statuses == ["finished", "pruned", "pruned", "pruned"]
    record = json.loads((out / "sweep.json").read_text())
    assert record["halving"]["rungs"] == [[2, 2], [4, 1]]
    # Each rung kept the runs with the lowest raw 'layout' loss at that step.
    def layout_at(run_id, step):
        for line in (out / "runs" / run_id / "log.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if entry["step"] == step:
                return entry["raw"]["layout"]

    ids = [line["id"] for line in lines]
    at_2 = sorted(ids, key=lambda run_id: layout_at(run_id, 2))
    assert {line["id"] for line in lines if line.get("pruned_at") == 2} == set(at_2[2:])
    survivors = at_2[:2]
    winner = min(survivors, key=lambda run_id: layout_at(run_id, 4))
    assert [line["id"] for line in lines if line["status"] == "finished"] == [winner]
    assert sum(line["step"] for line in lines) == 4 * 2 + 2 * 2 + 1 * 4 < 4 * 8
    # The winner paused at two rungs and resumed: still the image of the run made alone.
    overrides = next(run["overrides"] for run in record["runs"] if run["id"] == winner)
    reference = alone(tmp_path, winner, overrides, settings)
    assert np.array_equal(pixels(out / "runs" / winner / "final.png"), pixels(reference / "final.png"))
    assert "steps run: 16 of 32 (50%)" in capsys.readouterr().out


def test_a_second_driver_on_the_same_sweep_folder_is_refused(tmp_path, capsys):
    from pixengine.sweep.folder import SweepLock

    out = tmp_path / "sw"
    with SweepLock(out):  # as a driver running this sweep holds it
        code = main(["sweep", "repaint", "--seeds", "2", *TINY, "-o", str(out)])
    assert code == 1
    assert f"the sweep in '{out}' is being run by process {os.getpid()}" in capsys.readouterr().err
    assert not (out / "runs").exists()


def worker_task(tmp_path, token: str, **extra) -> dict:
    (tmp_path / "sweep").mkdir(exist_ok=True)
    from pixengine.sweep.folder import TOKEN_NAME

    (tmp_path / "sweep" / TOKEN_NAME).write_text("shared-token")
    return {"id": "000-x", "folder": str(tmp_path / "sweep" / "runs" / "000-x"), "recipe": "repaint", "prompt": None,
            "overrides": {"steps": 3, "width": 24, "height": 24}, "stop_at": None, "sweep_dir": str(tmp_path / "sweep"),
            "token": token, "files": None, **extra}


def test_a_worker_task_stops_at_its_rung_then_goes_on_from_the_checkpoint(tmp_path):
    # In this process, what a worker process does with a task on storage the driver shares.
    from pixengine.sweep import worker

    paused = worker.execute(worker_task(tmp_path, "shared-token", stop_at=2))
    assert (paused["status"], paused["step"], paused["error"], paused["files"]) == ("stopped", 2, None, None)
    assert paused["total"] > 0  # the run's loss at the rung, what halving ranks by
    assert paused["id"] == "000-x" and paused["pid"] == os.getpid() and paused["wall"] > 0
    done = worker.execute(worker_task(tmp_path, "shared-token"))
    assert (done["status"], done["step"]) == ("finished", 3)
    log = [json.loads(line)["step"] for line in (tmp_path / "sweep" / "runs" / "000-x" / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3]  # resumed at step 2, not started again
    again = worker.execute(worker_task(tmp_path, "shared-token", stop_at=2))
    assert (again["status"], again["step"]) == ("finished", 3)  # nothing more to do


def test_a_worker_without_shared_storage_sends_back_every_file_but_the_lock(tmp_path):
    from pixengine.sweep import worker

    outcome = worker.execute(worker_task(tmp_path, "another-machine"))
    assert (outcome["status"], outcome["step"]) == ("finished", 3)
    assert {"final.png", "run.yaml", "log.jsonl", "checkpoint.pt"} <= set(outcome["files"])
    assert worker.LOCK_NAME not in outcome["files"] and not (tmp_path / "sweep" / "runs").exists()
    failed = worker.execute(worker_task(tmp_path, "another-machine", overrides={"steps": -1}))
    assert failed["status"] == "failed" and "steps: -1 must be at least 0" in failed["error"]
