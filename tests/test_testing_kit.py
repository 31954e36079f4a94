"""The test kit catches broken components: each contract check fails, with a message naming the
component and the fault, on a component built to break it (and passes on its sound twin)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

import pixengine
from pixengine import option
from pixengine.testing import AugmentationContract, LossContract, ModelContract, ParameterizationContract, check_loss


@dataclass
class ScaleOptions:
    scale: float = option(1.0, help="how bright", min=0)


class Bright(pixengine.Parameterization):
    """Pixels that may leave [0, 1] when scale > 1 (a bug a sigmoid would have prevented)."""

    name = "bright"
    Options = ScaleOptions

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.values = torch.nn.Parameter(torch.full((1, 3, ctx.height, ctx.width), 0.5))
        self.frozen = torch.nn.Parameter(torch.zeros(1))  # returned by param_groups, never used

    def forward(self):
        return (self.values * self.options.scale).clamp(0, 1.5)


class Unbounded(pixengine.Loss):
    """A loss that returns one value per colour channel instead of a scalar."""

    name = "unbounded"

    def forward(self, inputs):
        return inputs.image.mean(dim=(0, 2, 3))


class Restless(pixengine.Loss):
    """A loss that keeps state between calls."""

    name = "restless"

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.calls = 0

    def forward(self, inputs):
        self.calls += 1
        return inputs.image.mean() * self.calls


class Darken(pixengine.Augmentation):
    """Claims to only move pixels, yet shifts their values."""

    name = "darken"
    geometric = True

    def sample(self, x):
        return torch.rand(x.shape[0], 1, 1, 1)

    def apply(self, x, params):
        return x - 0.1 * params.to(x)


class Unseeded(pixengine.Augmentation):
    """Draws from a generator of its own instead of the run's seeded one."""

    name = "unseeded"
    _own = torch.Generator().manual_seed(1)

    def sample(self, x):
        return torch.rand(x.shape[0], 1, 1, 1, generator=self._own)

    def apply(self, x, params):
        return x * (0.5 + 0.5 * params.to(x))


@dataclass
class SilentOptions:
    size: int = option(3)  # no help text


class Silent(pixengine.Loss):
    """A loss whose option is not documented."""

    name = "silent"
    Options = SilentOptions

    def forward(self, inputs):
        return inputs.image.mean()


class Thawed(pixengine.Model):
    """A feature model whose features ignore the requested layers."""

    name = "thawed"
    layer_names = ["a", "b"]
    default_layers = ["a", "b"]

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def features(self, images, layers):
        return {"a": self.conv(images)}


def test_a_parameterization_leaving_its_range_or_starving_a_parameter_fails(pixengine_plugin, tmp_path):
    pixengine_plugin(Bright)
    with pytest.raises(AssertionError, match=r"bright: values outside \[0, 1\]"):
        ParameterizationContract("bright", tmp_path, options={"scale": 3.0}).check_forward()
    with pytest.raises(AssertionError, match=r"bright: no gradient reached a parameter of group 'params' \(1,\)"):
        ParameterizationContract("bright", tmp_path).check_gradients()
    ParameterizationContract("bright", tmp_path).check_resize()  # it cannot grow, and grow is refused


def test_a_loss_that_is_not_a_scalar_or_keeps_state_fails(pixengine_plugin, tmp_path):
    pixengine_plugin(Unbounded, Restless)
    with pytest.raises(AssertionError, match="unbounded: forward must return a scalar tensor"):
        LossContract("unbounded", tmp_path).check_value()
    with pytest.raises(AssertionError, match="restless: two calls on the same inputs differ"):
        LossContract("restless", tmp_path).check_value()


def test_an_undocumented_option_fails_the_declaration_check(pixengine_plugin, tmp_path):
    pixengine_plugin(Silent)
    with pytest.raises(AssertionError, match="loss 'silent': options without help text: size"):
        check_loss("silent", tmp_path)


def test_an_augmentation_that_lies_about_being_geometric_or_is_unseeded_fails(pixengine_plugin, tmp_path):
    pixengine_plugin(Darken, Unseeded)
    with pytest.raises(AssertionError, match="darken says geometric = True but does more than move pixels"):
        AugmentationContract("darken", tmp_path).check_geometric()
    with pytest.raises(AssertionError, match="unseeded: the same seed gave other views"):
        AugmentationContract("unseeded", tmp_path).check_seeded_sampling()
    AugmentationContract("darken", tmp_path).check_replay()  # replay itself is fine


class Cut(pixengine.Augmentation):
    """Passes the views on without their gradient."""

    name = "cut"

    def apply(self, x, params):
        return x.detach()


class Blank(pixengine.Augmentation):
    """Keeps the graph but zeroes the gradient."""

    name = "blank"

    def apply(self, x, params):
        return 0 * x


class Faint(pixengine.Augmentation):
    """Passes a small but real gradient."""

    name = "faint"

    def apply(self, x, params):
        return 1e-6 * x


def test_an_augmentation_that_blocks_the_gradient_fails_and_a_faint_one_passes(pixengine_plugin, tmp_path):
    pixengine_plugin(Cut, Blank, Faint)
    for name in ("cut", "blank"):
        with pytest.raises(AssertionError, match=f"{name}: no gradient flows through it"):
            AugmentationContract(name, tmp_path).check_gradient()
    AugmentationContract("faint", tmp_path).check_gradient()


def test_a_model_breaking_its_declared_capability_fails(pixengine_plugin, tmp_path):
    pixengine_plugin(Thawed)
    contract = ModelContract("thawed", tmp_path)
    contract.check_frozen()  # the engine freezes every model
    with pytest.raises(AssertionError, match=r"thawed: features\(\) returned \['a'\] for \['a', 'b'\]"):
        contract.check_capabilities()


def test_the_kit_registers_components_settings_and_hooks_for_one_test(pixengine_plugin, pixengine_overrides):
    seen = []

    @dataclass
    class Every:
        n: int = option(2, help="every n steps", min=1)

    info = pixengine_plugin(
        Restless, settings={"every": Every}, hooks={"on_step": lambda run, step: seen.append(run.settings_of("every").n)},
        name="kit_demo", api="1.1",
    )
    assert info.ok and ("loss", "restless") in info.components and info.api == "1.1"
    pixengine.run("repaint", steps=2, width=16, height=16, **{"every.n": 5}, **pixengine_overrides)
    assert seen == [5, 5]


def test_an_incompatible_plugin_api_is_refused_with_the_reason(pixengine_plugin):
    info = pixengine_plugin(Silent, name="from_the_future", api="2.0")
    assert not info.ok and "incompatible: written for plugin API 2.0" in info.error
    info = pixengine_plugin(Silent, name="too_new", api="1.9")
    assert f"needs plugin API 1.9, and this pixengine has only API {pixengine.API_VERSION}; upgrade pixengine" in info.error


def test_the_kit_lists_its_lazily_imported_helpers():
    import pixengine.testing as kit

    names = dir(kit)
    assert {"make_plugin", "quick_overrides", "AugmentationContract", "check_loss"} <= set(names)
    assert names == sorted(names) and set(kit.__all__) <= set(names)


def test_a_run_context_for_building_a_component_by_hand():
    from pixengine.testing import run_context

    marker = object()
    ctx = run_context(40, 24, steps=5, seed=3, config={"prompt": "a fox"}, models={"m": marker})
    assert (ctx.device.type, ctx.width, ctx.height, ctx.steps, ctx.seed) == ("cpu", 40, 24, 5, 3)
    assert ctx.config.prompt == "a fox" and ctx.models == {"m": marker}
    plain = run_context()
    assert (plain.width, plain.height, plain.steps, plain.seed, plain.models) == (32, 32, 1, 0, {})


def test_lazy_names_import_each_name_from_its_own_module_on_first_use():
    from pixengine.lazy import lazy_names

    namespace: dict = {}
    getattr_, dir_ = lazy_names("pixengine.sweep", {"label": ("expand", "value_label")}, namespace)
    from pixengine.sweep.expand import value_label

    assert getattr_("label") is value_label and namespace == {"label": value_label}
    assert dir_() == ["label"]
    with pytest.raises(AttributeError, match="module 'pixengine.sweep' has no attribute 'other'"):
        getattr_("other")


def test_a_tiny_clip_architecture_can_be_registered_into_a_folder_not_made_yet(tmp_path):
    from pixengine.testing.tiny_clip import register_arch

    name = register_arch(tmp_path / "new" / "configs", "pixengine-test-nested", image_size=32)
    assert (tmp_path / "new" / "configs" / f"{name}.json").is_file()
