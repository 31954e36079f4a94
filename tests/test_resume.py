"""Resuming a run from its checkpoint: a run that was stopped and resumed makes the image of
one that never stopped; a finished run goes on when given more steps; what cannot be resumed
says why."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

import pixengine
from pixengine.testing import make_plugin
from pixengine import checkpoint, plugins
from pixengine.errors import PixengineError
from pixengine.outputs import read_run_document

SMALL = {"width": 32, "height": 24}


def interrupt_at(step_to_stop: int) -> None:
    def on_step(run, step, image, losses):
        if step == step_to_stop:
            raise KeyboardInterrupt

    plugins.register(make_plugin(name="interrupter", hooks={"on_step": on_step}), "interrupter")


def stopped_then_resumed(preset: str, stop: int, settings: dict, output_dir: Path) -> pixengine.RunResult:
    interrupt_at(stop)
    with pytest.raises(KeyboardInterrupt):
        pixengine.run(preset, **{**settings, "output_dir": str(output_dir)})
    plugins.unregister("interrupter")
    assert (output_dir / checkpoint.CHECKPOINT_NAME).is_file()
    return pixengine.run(resume=output_dir, progress=False)


def test_a_resumed_run_makes_the_image_of_a_run_that_never_stopped(tiny_clip, tmp_path):
    # clip_pixels draws random cutouts, affine, jitter and noise every step: the random state
    # must be restored as well as the pixels and Adam's moments.
    settings = {**tiny_clip.overrides("clip"), **SMALL, "steps": 8, "progress": False, "save_every": 0}
    straight = pixengine.run("clip_pixels", **{**settings, "output_dir": str(tmp_path / "straight")})
    resumed = stopped_then_resumed("clip_pixels", 5, settings, tmp_path / "resumed")
    assert resumed.status == "finished" and resumed.steps_done == 8
    assert torch.equal(resumed.tensor, straight.tensor)
    # The log holds every step once, as the straight run's does.
    log = [json.loads(line) for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == list(range(1, 9))
    assert [r["total"] for r in log] == [r["total"] for r in straight.history]


def test_a_signal_during_an_optimiser_step_lands_after_the_step_so_resuming_makes_the_same_image(tiny_clip, tmp_path, monkeypatch):
    # A Ctrl-C (or a sweep worker's SIGTERM) arriving just after the optimiser moved the
    # pixels, before the step count and random state followed, must not checkpoint that
    # half-made step: the resumed run would repeat it and differ.
    settings = {**tiny_clip.overrides("clip"), **SMALL, "steps": 8, "progress": False, "save_every": 0}
    straight = pixengine.run("clip_pixels", **{**settings, "output_dir": str(tmp_path / "straight")})
    real_step, calls = torch.optim.Adam.step, []

    def step_then_signal(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", step_then_signal)
    with pytest.raises(KeyboardInterrupt):
        pixengine.run("clip_pixels", **{**settings, "output_dir": str(tmp_path / "resumed")})
    monkeypatch.undo()
    assert checkpoint.load(tmp_path / "resumed")["step"] == 5
    resumed = pixengine.run(resume=tmp_path / "resumed", progress=False)
    assert torch.equal(resumed.tensor, straight.tensor)


def test_a_run_that_grew_before_it_stopped_resumes_at_its_new_size(tmp_path):
    settings = {**SMALL, "steps": 8, "grow": [{"at": 3, "width": 64, "height": 48}], "progress": False, "save_every": 0}
    straight = pixengine.run("fft_repaint", **{**settings, "output_dir": str(tmp_path / "straight")})
    resumed = stopped_then_resumed("fft_repaint", 5, settings, tmp_path / "resumed")
    assert resumed.tensor.shape[-2:] == (48, 64)
    assert torch.equal(resumed.tensor, straight.tensor)


def test_a_finished_run_goes_on_with_more_steps(quick):
    first = pixengine.run("repaint", steps=6, **{**quick, **SMALL})
    assert first.checkpoint_path == Path(quick["output_dir"]) / checkpoint.CHECKPOINT_NAME
    more = pixengine.run(resume=quick["output_dir"], steps=12, progress=False)
    assert more.steps_done == 12 and len(more.history) == 6
    assert more.history[-1]["total"] < first.history[-1]["total"]
    assert more.config.steps == 12 and more.config.output_dir == quick["output_dir"]
    assert read_run_document(more.final_path)["resumed_at"] == [6]
    with pytest.raises(PixengineError, match=r"already did 12 of its 12 steps; give steps=N \(more than 12\)"):
        pixengine.prepare(resume=quick["output_dir"])


def test_periodic_checkpoints_survive_a_run_killed_without_warning(quick):
    # Every save_every step leaves a checkpoint, so even a killed process (no chance to write
    # at the end) can go on from the last one.
    run = pixengine.prepare("repaint", steps=10, **{**quick, **SMALL, "save_every": 4})
    original_finish = run._finish
    run._finish = lambda status: original_finish("killed")  # writes nothing at the end
    run.execute()
    saved = checkpoint.load(Path(quick["output_dir"]))
    assert saved["step"] == 8


def test_what_cannot_be_resumed_says_why(quick, tmp_path):
    with pytest.raises(PixengineError, match=r"has no checkpoint.pt to resume from"):
        pixengine.prepare(resume=tmp_path)
    pixengine.run("repaint", steps=3, **{**quick, **SMALL})
    with pytest.raises(PixengineError, match=r"stopped at 32x24, but this config makes it 40x24 at step 3"):
        pixengine.prepare(resume=quick["output_dir"], steps=6, width=40)
    with pytest.raises(PixengineError, match=r"does not fit this run's parameterization \(missing: "):
        pixengine.prepare(resume=quick["output_dir"], steps=6, **{"parameterization.type": "fft"})
    without = pixengine.run("repaint", steps=2, **{**quick, **SMALL, "output_dir": str(tmp_path / "off"), "outputs.checkpoint": False})
    assert without.checkpoint_path is None and not (tmp_path / "off" / checkpoint.CHECKPOINT_NAME).exists()


def test_a_hook_can_stop_a_run_cleanly_and_it_resumes_to_the_same_image(tmp_path):
    # RunView.stop: the early stopper of sweeps' successive halving. No exception reaches the
    # caller; the folder says "stopped" with the reason, keeps a checkpoint, and goes on exactly.
    settings = {**SMALL, "steps": 8, "progress": False, "save_every": 0}
    straight = pixengine.run("repaint", **{**settings, "output_dir": str(tmp_path / "straight")})

    def on_step(run, step, image, losses):
        if step == 3:
            run.stop("enough for now")

    plugins.register(make_plugin(name="stopper", hooks={"on_step": on_step}), "stopper")
    stopped = pixengine.run("repaint", **{**settings, "output_dir": str(tmp_path / "stopped")})
    plugins.unregister("stopper")
    assert stopped.status == "stopped" and stopped.steps_done == 3
    document = read_run_document(tmp_path / "stopped" / "final.png")
    assert document["status"] == "stopped" and document["stopped"] == "enough for now"
    from pixengine.rundir import summarize

    summary = summarize(tmp_path / "stopped")
    assert summary.status == "stopped" and summary.resumable and summary.step == 3
    resumed = pixengine.run(resume=tmp_path / "stopped", progress=False)
    assert resumed.status == "finished" and torch.equal(resumed.tensor, straight.tensor)


def test_a_run_stopped_exactly_at_a_grow_step_resumes_at_its_old_size_and_then_grows(tmp_path):
    # Stopped after 3 steps with a grow at step 3: it has not grown yet, so the checkpoint is at
    # the first size, and the resumed run grows on its first step.
    settings = {**SMALL, "steps": 6, "grow": [{"at": 3, "width": 64, "height": 48}], "progress": False, "save_every": 0}
    straight = pixengine.run("fft_repaint", **{**settings, "output_dir": str(tmp_path / "straight")})
    interrupt_at(3)
    with pytest.raises(KeyboardInterrupt):
        pixengine.run("fft_repaint", **{**settings, "output_dir": str(tmp_path / "resumed")})
    plugins.unregister("interrupter")
    assert list(checkpoint.load(tmp_path / "resumed")["size"]) == [32, 24]
    resumed = pixengine.run(resume=tmp_path / "resumed", progress=False)
    assert resumed.tensor.shape[-2:] == (48, 64)
    assert torch.equal(resumed.tensor, straight.tensor)


def test_a_resumed_run_takes_its_learning_rate_from_the_new_config_and_adams_state_from_the_checkpoint(quick):
    pixengine.run("repaint", steps=4, **{**quick, **SMALL, "optimizer.lr": 0.01})
    same = pixengine.prepare(resume=quick["output_dir"], steps=8)
    faster = pixengine.prepare(resume=quick["output_dir"], steps=8, **{"optimizer.lr": 0.2})
    assert [g["base_lr"] for g in same.optimizer.param_groups] == [0.01]
    assert [g["base_lr"] for g in faster.optimizer.param_groups] == [0.2]
    for run in (same, faster):
        (state,) = run.optimizer.state.values()
        assert int(state["step"]) == 4 and state["exp_avg"].abs().sum() > 0
    assert faster.config.optimizer.lr == 0.2
