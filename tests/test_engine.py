"""The optimisation loop: determinism, reproduction from a PNG, what survives interruptions,
failures and non-finite losses, the schedule, progressive growing and candidate scoring."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixengine
from pixengine.testing import make_plugin
from pixengine import plugins
from pixengine.device import choose_device
from pixengine.errors import ConfigError, NonFiniteLossError
from pixengine.optim import lr_factor
from pixengine.outputs import read_run_document
from pixengine.schema import OptimizerSettings

SMALL = {"width": 24, "height": 16}


def pixels_of(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_a_run_reduces_its_loss_and_writes_what_it_promises(quick, tmp_path):
    result = pixengine.run("repaint", steps=30, **{**quick, **SMALL, "save_every": 10})
    assert result.status == "finished" and result.steps_done == 30
    assert result.history[-1]["total"] < 0.5 * result.history[0]["total"]
    out = tmp_path / "out"
    names = sorted(str(p.relative_to(out)) for p in result.paths)
    assert names == sorted(
        ["log.jsonl", "steps/step_00010.png", "steps/step_00020.png", "final.png", "run.yaml", "contact_sheet.png", "checkpoint.pt"]
    )
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporaries
    assert result.image.size == (24, 16)
    assert np.array_equal(np.asarray(result.image), pixels_of(out / "final.png"))
    document = read_run_document(out / "final.png")
    assert document["status"] == "finished" and document["step"] == 30
    assert document["config"]["steps"] == 30 and document["config"]["losses"]["smooth"]["type"] == "tv"
    assert set(document["plugins"]) == {"pixels", "targets", "regularizers"}
    intermediate = read_run_document(out / "steps" / "step_00010.png")
    assert intermediate["status"] == "running" and intermediate["step"] == 10
    log = (out / "log.jsonl").read_text().splitlines()
    assert len(log) == 30 and '"smooth"' in log[0]


def test_same_seed_same_image_other_seed_other_image(quick, tmp_path):
    a = pixengine.run("repaint", steps=5, seed=3, **{**quick, **SMALL, "output_dir": str(tmp_path / "a")})
    b = pixengine.run("repaint", steps=5, seed=3, **{**quick, **SMALL, "output_dir": str(tmp_path / "b")})
    c = pixengine.run("repaint", steps=5, seed=4, **{**quick, **SMALL, "output_dir": str(tmp_path / "c")})
    assert torch.equal(a.tensor, b.tensor)
    assert not torch.equal(a.tensor, c.tensor)
    string_seeded = pixengine.run("repaint", steps=1, seed="a cat", **{**quick, **SMALL, "output_dir": str(tmp_path / "d")})
    assert read_run_document(string_seeded.final_path)["config"]["seed"] == "a cat"


def test_reproduce_from_png_is_identical_and_writes_elsewhere(quick, tmp_path):
    first = pixengine.run("repaint", steps=12, seed=None, **{**quick, **SMALL})
    again = pixengine.run(from_image=first.final_path, progress=False)
    try:
        assert again.output_dir != first.output_dir  # never over the original
        assert again.config.seed == first.config.seed
        assert np.array_equal(pixels_of(first.final_path), pixels_of(again.final_path))
    finally:
        import shutil

        shutil.rmtree(again.output_dir)


def test_from_a_png_without_a_run_is_a_clear_error(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    with pytest.raises(ConfigError, match="carries no pixengine run"):
        pixengine.resolve(from_image=tmp_path / "plain.png")


def _register(name: str, **hooks) -> None:
    plugins.register(make_plugin(name=name, hooks=hooks), name)


def test_ctrl_c_keeps_the_last_image_and_its_config(quick, tmp_path):
    def on_step(run, step, image, losses):
        if step == 4:
            raise KeyboardInterrupt

    _register("interrupter", on_step=on_step)
    run = pixengine.prepare("repaint", steps=50, **{**quick, **SMALL})
    with pytest.raises(KeyboardInterrupt):
        run.execute()
    final = tmp_path / "out" / "final.png"
    document = read_run_document(final)
    assert document["status"] == "interrupted" and document["step"] == 4
    with torch.no_grad():
        current = run.parameterization()
    assert np.array_equal(pixels_of(final), np.asarray(pixengine.images.tensor_to_pil(current)))
    assert (tmp_path / "out" / "run.yaml").read_text().startswith("pixengine:")


@dataclass
class FlakyOptions(pixengine.LossOptions):
    at: int = 3
    value: str = "nan"  # "nan", "inf" or "raise"


class Flaky(pixengine.Loss):
    """Behaves until step `at`, then returns NaN/inf or raises."""

    name = "flaky"
    Options = FlakyOptions

    def forward(self, inputs):
        loss = (inputs.image - 0.5).pow(2).mean()
        if inputs.step + 1 >= self.options.at:
            if self.options.value == "raise":
                raise RuntimeError("the loss broke")
            return loss * float(self.options.value)
        return loss


@pytest.fixture
def flaky(tmp_path):
    _register("flaky_plugin", register_losses=lambda register: register(Flaky))
    preset = tmp_path / "flaky.yaml"
    preset.write_text("steps: 20\nwidth: 16\nheight: 16\nlosses: {f: {type: flaky}}\n")
    return str(preset)


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_last_finite_image(flaky, quick, tmp_path, value):
    steps_seen = []
    _register("watcher", on_step=lambda run, step, image, losses: steps_seen.append(image.clone()))
    with pytest.raises(NonFiniteLossError) as caught:
        pixengine.run(flaky, **{**quick, "losses.f.value": value, "losses.f.at": 5})
    message = str(caught.value)
    assert f"the loss became {float(value)} at step 5" in message and "'f'" in message
    final = tmp_path / "out" / "final.png"
    assert final in caught.value.paths
    assert read_run_document(final)["status"] == "nonfinite"
    # The kept image is the one of the last step whose loss was finite (step 4).
    assert len(steps_seen) == 4
    assert np.array_equal(pixels_of(final), np.asarray(pixengine.images.tensor_to_pil(steps_seen[-1])))


def test_an_exception_mid_run_keeps_the_image_and_propagates(flaky, quick, tmp_path):
    with pytest.raises(RuntimeError, match="the loss broke"):
        pixengine.run(flaky, **{**quick, "losses.f.value": "raise", "losses.f.at": 6})
    document = read_run_document(tmp_path / "out" / "final.png")
    assert document["status"] == "failed" and document["step"] == 5


def test_learning_rate_schedule():
    settings = OptimizerSettings(warmup=4, decay_at=[0.5, 30], decay_factor=0.1)
    factors = [lr_factor(settings, step, 40) for step in range(40)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[19] == 1.0 and factors[20] == pytest.approx(0.1) and factors[30] == pytest.approx(0.01)
    ramp = OptimizerSettings(rampdown=0.25)
    assert lr_factor(ramp, 0, 100) == 1.0 and lr_factor(ramp, 75, 100) == 1.0
    assert lr_factor(ramp, 99, 100) < 0.01 and 0.4 < lr_factor(ramp, 87, 100) < 0.6


class TwoGroups(pixengine.Parameterization):
    """Brightness and colour as two parameter groups."""

    name = "two_groups"

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.level = torch.nn.Parameter(torch.zeros(1))
        self.tint = torch.nn.Parameter(torch.zeros(3))

    def forward(self):
        image = torch.sigmoid(self.level + self.tint)[None, :, None, None]
        return image.expand(1, 3, self.ctx.height, self.ctx.width)

    def param_groups(self):
        return [{"name": "level", "params": [self.level], "lr": 0.5}, {"name": "tint", "params": [self.tint], "lr_scale": 0.1}]


def test_parameter_groups_their_rates_and_overrides(tmp_path, quick):
    _register("groups", register_parameterizations=lambda register: register(TwoGroups))
    preset = tmp_path / "g.yaml"
    preset.write_text("steps: 1\nwidth: 8\nheight: 8\nparameterization: {type: two_groups}\noptimizer: {lr: 0.2, warmup: 2}\nlosses: {tv: {}}\n")
    run = pixengine.prepare(str(preset), **quick)
    assert [(g["name"], g["base_lr"]) for g in run.optimizer.param_groups] == [("level", 0.5), ("tint", pytest.approx(0.02))]
    run.execute()
    assert [g["lr"] for g in run.optimizer.param_groups] == [0.25, pytest.approx(0.01)]  # warm-up, step 1 of 2
    run = pixengine.prepare(str(preset), **{**quick, "optimizer.groups": {"tint": {"lr": 0.3}}, "optimizer.type": "SGD"})
    assert isinstance(run.optimizer, torch.optim.SGD) and run.optimizer.param_groups[1]["lr"] == 0.3
    with pytest.raises(ConfigError, match=r"optimizer.groups.colour: the parameterization has no parameter group 'colour'"):
        pixengine.prepare(str(preset), **{**quick, "optimizer.groups": {"colour": {"lr": 0.3}}})
    with pytest.raises(ConfigError, match="optimizer.args: Adam rejected its arguments"):
        pixengine.prepare(str(preset), **{**quick, "optimizer.args": {"momentum": 0.9}})


LBFGS = {"optimizer.type": "LBFGS", "optimizer.lr": 1.0,
         "optimizer.args": {"max_iter": 10, "tolerance_grad": 0.0, "tolerance_change": 0.0, "line_search_fn": "strong_wolfe"}}


def test_lbfgs_evaluates_the_loss_several_times_per_step_and_converges_faster(quick, tmp_path):
    evaluations = []
    run = pixengine.prepare("repaint", steps=3, **{**quick, **SMALL, **LBFGS})
    run.losses[0][1].register_forward_hook(lambda *_: evaluations.append(1))
    result = run.execute()
    assert result.status == "finished" and len(result.history) == 3
    assert len(evaluations) > 3 * 5  # the line search's evaluations, through the closure
    adam = pixengine.run("repaint", steps=3, **{**quick, **SMALL, "output_dir": str(tmp_path / "adam")})
    assert result.history[-1]["total"] < 0.5 * adam.history[-1]["total"]


def test_lbfgs_sees_one_set_of_views_per_step(quick, tmp_path):
    preset = tmp_path / "views.yaml"
    preset.write_text(
        "extends: repaint\naugmentations: {flip: {type: flip, p: 0.5}, noise: {type: noise, amount: 0.1}}\n"
    )
    run = pixengine.prepare(str(preset), steps=2, **{**quick, **SMALL, **LBFGS})
    seen = []
    original = run.chain.replay
    run.chain.replay = lambda image, params=None: seen.append(run.chain.last_params) or original(image, params)
    run.execute()
    assert seen and all(params is not None for params in seen)


def test_lbfgs_merges_groups_of_one_rate_and_refuses_different_rates(tmp_path, quick):
    _register("groups_lbfgs", register_parameterizations=lambda register: register(TwoGroups))
    preset = tmp_path / "g.yaml"
    preset.write_text("steps: 1\nwidth: 8\nheight: 8\nparameterization: {type: two_groups}\nlosses: {tv: {}}\n")
    with pytest.raises(ConfigError, match=r"optimizer.type: LBFGS optimises all parameters with one rate.*level 0.5, tint 0.005"):
        pixengine.prepare(str(preset), **{**quick, "optimizer.type": "LBFGS"})
    same = {"level": {"lr": 0.5}, "tint": {"lr": 0.5}}
    run = pixengine.prepare(str(preset), **{**quick, "optimizer.type": "LBFGS", "optimizer.groups": same})
    assert len(run.optimizer.param_groups) == 1 and len(run.optimizer.param_groups[0]["params"]) == 2
    assert run.execute().status == "finished"


def test_a_second_run_into_the_same_folder_starts_a_fresh_log(quick):
    pixengine.run("repaint", steps=4, **{**quick, **SMALL})
    pixengine.run("repaint", steps=2, **{**quick, **SMALL})
    log = (Path(quick["output_dir"]) / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2]


def test_progressive_growing_changes_size_mid_run_and_continues_the_image(quick):
    seen = []
    _register("sizes", on_step=lambda run, step, image, losses: seen.append(tuple(image.shape[-2:])))
    smooth_start = {"parameterization.init_image": "pkg:pixengine_presets/assets/chelsea.jpg", "parameterization.init_noise": 0}
    run = pixengine.prepare("repaint", steps=6, grow=[{"at": 3, "width": 48, "height": 32}], **{**quick, **SMALL, **smooth_start})
    with torch.no_grad():
        before = run.parameterization()
        run.parameterization.resize(48, 32)
        run.ctx.width, run.ctx.height = 48, 32
        after = run.parameterization()
    assert after.shape[-2:] == (32, 48)
    back = torch.nn.functional.interpolate(after, size=(16, 24), mode="area")
    assert (back - before).abs().mean() < 0.02
    run.ctx.width, run.ctx.height = 24, 16  # the engine does the resize itself at step 3
    run.parameterization.resize(24, 16)
    result = run.execute()
    assert seen == [(16, 24)] * 3 + [(32, 48)] * 3
    assert result.tensor.shape[-2:] == (32, 48)


def test_grow_needs_a_resizable_parameterization(tmp_path):
    _register("groups2", register_parameterizations=lambda register: register(TwoGroups))
    preset = tmp_path / "g.yaml"
    preset.write_text("parameterization: {type: two_groups}\nlosses: {tv: {}}\ngrow: [{at: 2}]\n")
    with pytest.raises(ConfigError, match="grow: parameterization 'two_groups' cannot change resolution"):
        pixengine.resolve(str(preset))


class BestOfMany(pixengine.Parameterization):
    """Starts from the lowest-loss of a few flat grey levels (a FuseDream-style initialiser)."""

    name = "best_of_many"

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.level = torch.nn.Parameter(torch.zeros(1))
        self.scores = None

    def forward(self):
        return torch.sigmoid(self.level).expand(1, 3, self.ctx.height, self.ctx.width)

    def initialize(self, score):
        levels = torch.linspace(0.1, 0.9, 5)
        self.scores = score(levels[:, None, None, None].expand(5, 3, self.ctx.height, self.ctx.width))
        best = levels[self.scores.argmin()]
        with torch.no_grad():
            self.level.fill_(math.log(best / (1 - best)))


def test_initialize_scores_candidates_with_the_runs_losses(tmp_path, quick):
    _register("best", register_parameterizations=lambda register: register(BestOfMany))
    Image.new("RGB", (8, 8), (179, 179, 179)).save(tmp_path / "grey70.png")  # 0.7
    preset = tmp_path / "b.yaml"
    preset.write_text(f"steps: 0\nwidth: 8\nheight: 8\nparameterization: {{type: best_of_many}}\n"
                      f"losses: {{t: {{type: target_image, image: {tmp_path / 'grey70.png'}}}}}\n")
    run = pixengine.prepare(str(preset), **quick)
    expected = torch.tensor([(v - 179 / 255) ** 2 for v in torch.linspace(0.1, 0.9, 5).tolist()])
    assert torch.allclose(run.parameterization.scores, expected, atol=1e-5)
    result = run.execute()
    assert result.tensor.mean().item() == pytest.approx(0.7, abs=1e-3)


def test_a_run_needs_a_loss(quick):
    with pytest.raises(ConfigError, match="a run needs at least one loss"):
        pixengine.prepare("repaint", losses=None, **quick)


def test_missing_image_names_the_option_and_file(quick, tmp_path):
    with pytest.raises(ConfigError) as caught:
        pixengine.prepare("repaint", **{**quick, "losses.layout.image": "nowhere.png"})
    message = str(caught.value)
    assert "losses.layout.image: image file 'nowhere.png' not found" in message and "command line" in message


def test_device_choice():
    assert choose_device("cpu").type == "cpu"
    assert choose_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="cuda was asked for"):
            choose_device("cuda")
    with pytest.raises(ConfigError, match="'potato' is not a device"):
        choose_device("potato")


def test_the_engine_projects_the_parameters_after_every_step(quick):
    """pixels with bound: clamp, pushed out of [0, 1] by a large Adam rate towards a target
    beyond white: after each step the engine calls project(), so the values stay in the cube.
    (Lifecycle hooks see a read-only view without the parameterization, so the run's own step
    is wrapped.)"""
    seen = []
    overrides = {"parameterization.bound": "clamp", "optimizer.lr": 0.5, **quick, **SMALL}
    run = pixengine.prepare("repaint", steps=4, **overrides)
    one_step = run._one_step

    def recorded_step(*args, **kwargs):
        one_step(*args, **kwargs)
        values = run.parameterization.values.detach()
        rgb = run.parameterization._to_rgb(values)  # repaint's colours are decorrelated
        seen.append((rgb.min().item(), rgb.max().item()))

    run._one_step = recorded_step
    result = run.execute()
    assert result.status == "finished" and len(seen) == 4
    assert all(low >= -1e-6 and high <= 1 + 1e-6 for low, high in seen), seen
    assert any(high > 1 - 1e-4 or low < 1e-4 for low, high in seen)  # the rate did push pixels onto the bounds


def test_the_progress_bar_is_labelled_with_the_preset_and_shows_each_step(quick, capsys):
    pixengine.run("repaint", **{**quick, "steps": 3, "progress": True})
    err = capsys.readouterr().err
    assert "repaint: 100%" in err and "3/3" in err
