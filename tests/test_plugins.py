"""Plugin discovery, isolation and hooks, tested from the outside: third-party plugins are real
distributions built and installed by pip, found through the ``pixengine`` entry-point group."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from PIL import Image

import pixengine
from pixengine import hookspecs, plugins
from pixengine.errors import ConfigError
from pixengine.outputs import read_run_document
from pixengine.testing import make_plugin
from pixengine.testing.registration import _HOOK_OF_KIND
from plugin_factory import (
    BROKEN_IMPORT_PLUGIN,
    CHECKER_PLUGIN,
    MISSPELT_HOOK_PLUGIN,
    RAISING_PLUGIN,
    build_and_install,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """One folder holding four installed third-party distributions."""
    root = tmp_path_factory.mktemp("plugins")
    build_and_install(root, "pixengine-checker", "pixengine_checker", CHECKER_PLUGIN, entry_name="checker")
    build_and_install(root, "pixengine-broken", "pixengine_broken", BROKEN_IMPORT_PLUGIN, entry_name="broken")
    build_and_install(root, "pixengine-raising", "pixengine_raising", RAISING_PLUGIN, entry_name="raising")
    return build_and_install(root, "pixengine-misspelt", "pixengine_misspelt", MISSPELT_HOOK_PLUGIN, entry_name="misspelt")


@pytest.fixture
def with_site(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    plugins.reset()
    return plugin_site


def test_builtins_come_through_the_entry_point_group():
    registry = plugins.get_registry()
    info = registry.plugins["pixels"]
    assert info.source == "builtin" and info.distribution == "pixengine"
    assert info.module == "pixengine_plugins.pixels"
    assert registry.get("parameterization", "pixels").plugin == "pixels"
    assert {"tv", "target_image", "color_stats"} <= set(registry.names("loss"))
    assert "default" in registry.presets


def test_third_party_plugin_is_discovered_and_usable_in_a_preset(with_site, tmp_path, quick):
    registry = plugins.get_registry()
    info = registry.plugins["checker"]
    assert info.ok and info.source == "entry point"
    assert (info.distribution, info.version) == ("pixengine-checker", "0.3.1")
    assert ("parameterization", "checker") in info.components

    preset = tmp_path / "checker.yaml"
    preset.write_text(
        "steps: 30\nwidth: 32\nheight: 32\n"
        "parameterization: {type: checker, squares: 2}\n"
        "optimizer: {lr: 0.2}\n"
        "losses:\n  bright: {type: target_image, image: white.png}\n"
    )
    from PIL import Image

    Image.new("RGB", (32, 32), "white").save(tmp_path / "white.png")
    os.chdir(tmp_path)
    result = pixengine.run(str(preset), **quick)
    assert result.status == "finished"
    assert result.history[-1]["total"] < result.history[0]["total"] / 2
    document = read_run_document(result.final_path)
    assert document["plugins"]["checker"] == {"distribution": "pixengine-checker", "version": "0.3.1"}


def test_failing_plugins_are_reported_and_isolated(with_site, quick):
    registry = plugins.get_registry()
    broken = registry.plugins["broken"]
    assert "import failed" in broken.error and "a_module_that_does_not_exist" in broken.error
    raising = registry.plugins["raising"]
    assert "register_parameterizations raised RuntimeError: cannot find my GPU kernels" in raising.error
    # Everything the raising plugin registered is dropped, not half of it.
    assert registry.get("loss", "fine_but_dropped") is None
    misspelt = registry.plugins["misspelt"]
    assert "unknown hook 'register_loss'" in misspelt.error and "register_losses" in misspelt.error
    # Runs that do not need them are unaffected.
    assert pixengine.run("repaint", steps=2, **quick).status == "finished"


def test_a_preset_needing_a_failed_plugin_stops_before_step_one_naming_it(with_site, tmp_path):
    preset = tmp_path / "needs.yaml"
    preset.write_text("losses:\n  mine: {type: fine_but_dropped}\n")
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve(str(preset))
    message = str(caught.value)
    assert str(preset) in message and "losses.mine.type" in message
    assert "unknown loss 'fine_but_dropped'" in message
    assert "raising: register_parameterizations raised RuntimeError" in message
    assert "broken: import failed" in message


def test_environment_variable_limits_external_plugins(with_site, monkeypatch):
    monkeypatch.setenv(plugins.PLUGINS_ENV, "")
    registry = plugins.get_registry()
    assert registry.get("parameterization", "checker") is None
    assert registry.plugins["checker"].skipped
    assert registry.get("parameterization", "pixels") is not None  # built-ins always load

    monkeypatch.setenv(plugins.PLUGINS_ENV, "pixengine-checker")  # a distribution name works too
    plugins.reset()
    registry = plugins.get_registry()
    assert registry.get("parameterization", "checker") is not None
    assert registry.plugins["broken"].skipped and registry.plugins["broken"].error.startswith("not loaded")


def test_code_registered_plugin_and_duplicate_component_names(pixengine_plugin):
    class Again(pixengine.Parameterization):
        name = "pixels"

    pixengine_plugin(Again, name="dup_plugin")
    registry = plugins.get_registry()
    info = registry.plugins["dup_plugin"]
    assert info.source == "registered in code" and info.ok  # the plugin loads; its duplicate does not
    assert info.refused == ["parameterization 'pixels' refused: the name belongs to plugin 'pixels' (built-in); rename it"]
    assert registry.get("parameterization", "pixels").cls.__name__ == "Pixels"


def test_register_rejects_what_is_not_a_component():
    module = types.ModuleType("wrong_kind")
    module.register_losses = pixengine.hookimpl(lambda register: register(dict))
    plugins.register(module, "wrong_kind")
    error = plugins.get_registry().plugins["wrong_kind"].error
    assert "not a subclass of pixengine.Loss" in error


def test_lifecycle_hooks_are_called_in_order_with_their_arguments(quick, pixengine_plugin):
    calls = []
    pixengine_plugin(name="recorder", hooks={
        "on_run_start": lambda run: calls.append(("start", run.step)),
        "on_step": lambda run, step, image, losses: calls.append(("step", step, tuple(image.shape), sorted(losses))),
        "on_run_end": lambda run, result: calls.append(("end", result.status, result.final_path.name)),
    })
    pixengine.run("repaint", steps=3, width=16, height=16, **quick)
    assert calls[0] == ("start", 0)
    assert [c[1] for c in calls[1:4]] == [1, 2, 3]
    assert calls[1][2] == (1, 3, 16, 16) and calls[1][3] == ["colors", "layout", "smooth", "total"]
    assert calls[-1] == ("end", "finished", "final.png")


def test_plugins_list_in_a_subprocess_shows_origin_components_and_errors(plugin_site):
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    out = subprocess.run(
        [sys.executable, "-m", "pixengine", "plugins", "list"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "checker  (entry point: pixengine-checker 0.3.1)" in out
    assert "parameterization: checker" in out
    assert re.search(r"broken .*FAILED\n\s+import failed: ModuleNotFoundError", out)
    assert "pixels  (builtin: pixengine" in out


def test_models_augmentations_and_presets_registered_from_a_plugin(tmp_path, quick):
    """register_models, register_augmentations and register_presets, used by one run."""
    import torch

    class MeanColour(pixengine.Model):
        """A weight-free 'model': the mean colour of each view."""
        name = "mean_colour"

        def forward(self, x):
            return x.mean(dim=(2, 3))

    class Flip(pixengine.Augmentation):
        """Flip each view left-right with probability 1/2."""
        name = "coin_flip"

        def sample(self, x):
            return torch.rand(x.shape[0]) < 0.5

        def apply(self, x, params):
            return torch.where(params[:, None, None, None].to(x.device), x.flip(-1), x)

    class Repeat(pixengine.Augmentation):
        """Make four views of the image."""
        name = "repeat4"

        def apply(self, x, params):
            return x.repeat(4, 1, 1, 1)

    class RedViews(pixengine.Loss):
        """Make every view's mean colour red."""
        name = "red_views"

        def __init__(self, options, ctx):
            super().__init__(options, ctx)
            self.model = ctx.model("colour")

        def forward(self, inputs):
            assert inputs.views.shape[0] == 4
            target = torch.tensor([1.0, 0.0, 0.0], device=inputs.views.device)
            return (self.model(inputs.views) - target).pow(2).mean()

    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "red.yaml").write_text(
        "steps: 40\nwidth: 16\nheight: 16\noptimizer: {lr: 0.2}\n"
        "models: {colour: {type: mean_colour}}\n"
        "augmentations: {views: {type: repeat4}, flip: {type: coin_flip}}\n"
        "losses: {red: {type: red_views}}\n"
    )
    # The deprecated register_presets hook still works for code plugins.
    module = make_plugin(MeanColour, Flip, Repeat, RedViews, name="extras",
                         hooks={"register_presets": lambda register: register(tmp_path / "presets")})
    plugins.register(module, "extras")
    registry = plugins.get_registry()
    assert registry.plugins["extras"].presets == ["red"]
    assert ("model", "mean_colour") in registry.plugins["extras"].components

    run = pixengine.prepare("red", **quick)
    assert not run.ctx.models["colour"].training  # models are frozen
    views = run.chain(run.parameterization())
    assert torch.equal(run.chain.replay(run.parameterization()), views)  # the same random flips
    result = run.execute()
    mean = result.tensor.mean(dim=(2, 3))[0]
    assert mean[0] > 0.9 and mean[1] < 0.1 and mean[2] < 0.1


def test_a_loss_naming_an_unknown_model_label_is_rejected(tmp_path):
    preset = tmp_path / "bad_model.yaml"
    preset.write_text("losses: {red: {type: target_image, image: x.png}}\n")
    # target_image has no model option; use an option called `model` via a code plugin instead.
    from dataclasses import dataclass

    @dataclass
    class Opts(pixengine.LossOptions):
        model: str = "clip"

    class UsesModel(pixengine.Loss):
        name = "uses_model"
        Options = Opts

    plugins.register(make_plugin(UsesModel, name="uses_model"), "uses_model")
    preset.write_text("models: {}\nlosses: {m: {type: uses_model, model: clip_b32}}\n")
    with pytest.raises(ConfigError, match=r"losses\.m\.model: no model labelled 'clip_b32'"):
        pixengine.resolve(str(preset))


# -- the hook contract itself: documented, tested, and in the README --------------------------

HOOKS = [name for name, obj in vars(hookspecs).items() if hasattr(obj, "pixengine_spec")]


def test_every_hook_is_documented_and_tested():
    readme = (ROOT / "README.md").read_text()
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("*.py"))
    assert len(HOOKS) == 9
    for hook in HOOKS:
        spec = getattr(hookspecs, hook)
        assert inspect.getdoc(spec), f"hook {hook} has no docstring"
        assert f"`{hook}(" in readme, f"hook {hook} is not in the README's hook table"
        # Some test plugin implements it: a hookimpl function or attribute of that name, a hook
        # given to the kit's make_plugin, or a component of its kind registered through the kit.
        kind = next((k for k, h in _HOOK_OF_KIND.items() if h == hook), None)
        through_kit = kind is not None and re.search(rf"\(pixengine\.{kind.capitalize()}\)", tests)
        assert through_kit or re.search(rf"(def {hook}\(|\.{hook} = pixengine\.hookimpl|\"{hook}\": )", tests), f"hook {hook} has no test"


def test_the_readme_plugin_example_works_as_written(tmp_path, monkeypatch):
    """The 'Writing a plugin' example, taken from the README verbatim, registers and darkens
    the corners of a run: the documentation cannot drift from the API."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Writing a plugin", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    module = types.ModuleType("pixengine_vignette")
    monkeypatch.setitem(sys.modules, "pixengine_vignette", module)  # as an import would
    exec(compile(code, "README.md (Writing a plugin)", "exec"), module.__dict__)
    plugins.register(module, "pixengine_vignette")
    grey = tmp_path / "grey.png"
    Image.new("RGB", (24, 24), (128, 128, 128)).save(grey)
    preset = tmp_path / "dark.yaml"
    preset.write_text(
        f"steps: 80\nwidth: 24\nheight: 24\nparameterization: {{type: pixels, init_noise: 0}}\n"
        f"losses: {{grey: {{type: target_image, image: '{grey}'}}, dark: {{type: vignette, weight: 0.5}}}}\n"
    )
    result = pixengine.run(str(preset), output_dir=str(tmp_path / "out"), progress=False, save_every=0)
    image = result.tensor[0].mean(dim=0)
    corners = torch.stack([image[0, 0], image[0, -1], image[-1, 0], image[-1, -1]])
    # Against a flat grey target, the vignette darkens the corners and leaves the centre.
    assert corners.max() < image[10:14, 10:14].min() - 0.15
    assert read_run_document(result.final_path)["plugins"]["pixengine_vignette"] is not None
