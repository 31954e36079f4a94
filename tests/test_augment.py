"""The augmentations: shapes, gradients, options, and identical views when replayed."""

from __future__ import annotations

import types

import pytest
import torch
from omegaconf import OmegaConf

import pixengine
from pixengine import ConfigError
from pixengine.augment import AugmentationChain
from pixengine.context import RunContext
from pixengine_plugins.augment import Affine, ColorJitter, Cutouts, Flip, Noise, Perspective
from pixengine_plugins.augment.cutouts import CutoutOptions

ALL = [Cutouts, Affine, Perspective, ColorJitter, Noise, Flip]


def make_ctx(models: dict | None = None) -> RunContext:
    return RunContext(
        device=torch.device("cpu"), width=40, height=24, steps=10, seed=0, config=OmegaConf.create({}), models=models or {}
    )


def build(cls, ctx=None, **options):
    return cls(cls.Options(**options), ctx or make_ctx())


def image(seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.rand(1, 3, 24, 40)


def full_chain(ctx=None) -> AugmentationChain:
    ctx = ctx or make_ctx()
    return AugmentationChain(
        [
            build(Cutouts, ctx, count=6, size=16),
            build(Affine, ctx, p=1.0),
            build(Perspective, ctx, p=1.0),
            build(ColorJitter, ctx, p=1.0),
            build(Noise, ctx, amount=0.2),
            build(Flip, ctx, p=0.5),
        ]
    )


def test_every_augmentation_is_registered():
    registry = pixengine.plugins.get_registry()
    assert {"cutouts", "affine", "perspective", "color_jitter", "noise", "flip"} <= set(registry.names("augmentation"))


def test_the_chain_makes_the_requested_views_and_passes_gradients():
    x = image().requires_grad_()
    views = full_chain()(x)
    assert views.shape == (6, 3, 16, 16)
    views.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_replaying_the_chain_gives_identical_views():
    chain = full_chain()
    x = image()
    first = chain(x)
    torch.rand(100)  # the global generator moves on; the replay must not depend on it
    assert torch.equal(chain.replay(x), first)
    assert not torch.equal(chain(x), first)  # a new call draws new views


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_each_augmentation_replays_its_parameters(cls):
    x = image()
    options = {"count": 5, "size": 16} if cls is Cutouts else {}
    aug = build(cls, **options)
    batch = x if cls is Cutouts else x.expand(5, -1, -1, -1).contiguous()
    params = aug.sample(batch)
    assert torch.equal(aug.apply(batch, params), aug.apply(batch, params))


def test_cutouts_replayed_on_another_image_cut_the_same_places():
    """Cropping is linear in the image: the replayed views of x/2 are the views of x, halved."""
    cut = build(Cutouts, count=8, size=16)
    x = image()
    views = cut.apply(x, params := cut.sample(x))
    assert torch.allclose(cut.apply(x / 2, params), views / 2, atol=1e-6)


def test_cutouts_mix_zoomed_and_wide_cuts():
    cut = build(Cutouts, count=10, size=16, zoom_fraction=0.6)
    boxes = cut.sample(image())["boxes"]  # (N, 4 corners, xy)
    lo, hi = boxes.amin(dim=1), boxes.amax(dim=1)
    inside = (lo[:, 0] >= 0) & (lo[:, 1] >= 0) & (hi[:, 0] <= 39) & (hi[:, 1] <= 23)
    covers = (lo[:, 0] <= 0) & (lo[:, 1] <= 0) & (hi[:, 0] >= 39) & (hi[:, 1] >= 23)
    assert inside[:6].all() and covers[6:].all()
    sides = hi - lo + 1
    assert torch.allclose(sides[:, 0], sides[:, 1])  # square cuts
    assert (sides[:6, 0] >= 0.25 * 24 - 1e-4).all() and (sides[:6, 0] <= 24 + 1e-4).all()


def test_cut_pow_favours_small_cuts():
    torch.manual_seed(0)
    small = build(Cutouts, count=64, size=8, zoom_fraction=1.0, cut_pow=3.0).sample(image())["boxes"]
    torch.manual_seed(0)
    plain = build(Cutouts, count=64, size=8, zoom_fraction=1.0, cut_pow=1.0).sample(image())["boxes"]
    side = lambda b: (b[:, 2, 0] - b[:, 0, 0]).mean()  # noqa: E731
    assert side(small) < side(plain)


def test_a_zoomed_cut_of_a_flat_image_is_flat():
    flat = torch.full((1, 3, 24, 40), 0.3)
    views = build(Cutouts, count=4, size=16, zoom_fraction=1.0)(flat)
    assert torch.allclose(views, torch.full_like(views, 0.3), atol=1e-5)


def test_cutouts_size_defaults_to_the_largest_model_input():
    models = {"a": types.SimpleNamespace(input_size=(32, 32)), "b": types.SimpleNamespace(input_size=(48, 48)), "c": object()}
    assert build(Cutouts, make_ctx(models)).size == 48
    assert build(Cutouts, make_ctx()).size == 224
    assert build(Cutouts, make_ctx(models), size=20).size == 20


def test_cutouts_of_a_batch_keep_each_images_views_together():
    x = torch.stack([torch.zeros(3, 24, 40), torch.ones(3, 24, 40)])
    cut = build(Cutouts, count=3, size=8, zoom_fraction=1.0)
    views = cut(x)
    assert views.shape == (6, 3, 8, 8)
    assert views[:3].abs().max() < 1e-6 and (views[3:] - 1).abs().max() < 1e-5


def test_padding_modes_are_checked():
    with pytest.raises(ValueError, match="padding must list some of zeros, border, reflection"):
        CutoutOptions(padding=["mirror"])


def test_bad_options_are_reported_with_their_key():
    with pytest.raises(ConfigError) as info:
        pixengine.resolve("default", **{"augmentations.a": {"type": "affine", "scale": [1.2, 0.8]}})
    assert info.value.key == "augmentations.a"
    assert "scale must be [low, high]" in str(info.value)
    with pytest.raises(ConfigError) as info:
        pixengine.resolve("default", **{"augmentations.c": {"type": "cutouts", "count": 0}})
    assert info.value.key == "augmentations.c.count"


# -- what each link draws, view by view, and what the chain replays ------------------------


def many_views(n: int = 64) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(n, 3, 16, 16)


def test_affine_draws_each_views_warp_within_its_options():
    params = build(Affine, degrees=20, translate=0.25, scale=[0.5, 0.6], shear=8, p=1.0).sample(many_views())
    angle, shift, scale, shear = params["angle"], params["translations"], params["scale"], params["shear_x"]
    assert angle.abs().max() <= 20 and angle.abs().max() > 12
    assert shift.abs().max() <= 0.25 * 16 and shift[:, 0].abs().max() > 2 and shift[:, 1].abs().max() > 2
    assert ((scale >= 0.5) & (scale <= 0.6)).all()
    assert shear.abs().max() <= 8 and shear.abs().max() > 5
    assert angle.unique().numel() == 64  # every view draws its own


def test_affine_fills_uncovered_corners_by_its_padding_option():
    ones = torch.ones(2, 3, 16, 16)
    shrink = {"degrees": 0.0, "translate": 0.0, "scale": [0.5, 0.5], "shear": 0.0, "p": 1.0}
    zeros = build(Affine, padding="zeros", **shrink)
    border = build(Affine, padding="border", **shrink)
    assert zeros.apply(ones, zeros.sample(ones)).min() == 0
    assert torch.allclose(border.apply(ones, border.sample(ones)), ones)


def test_perspective_moves_corners_by_at_most_its_distortion():
    views = many_views()
    params = build(Perspective, distortion=0.3, p=1.0).sample(views)
    moved = (params["end_points"] - params["start_points"]).abs()
    assert moved.max() <= 0.3 * 16 / 2 + 1e-4 and moved.max() > 0.2 * 16 / 2
    still = build(Perspective, distortion=0.0, p=1.0).sample(views)
    assert torch.equal(still["end_points"], still["start_points"])


def test_colour_jitter_draws_each_factor_within_its_option():
    params = build(ColorJitter, brightness=0.1, contrast=0.2, saturation=0.3, hue=0.05, p=1.0).sample(many_views())
    for key, bound in (("brightness_factor", 0.1), ("contrast_factor", 0.2), ("saturation_factor", 0.3)):
        spread = (params[key] - 1).abs()
        assert spread.max() <= bound + 1e-6 and spread.max() > 0.7 * bound, key
    assert params["hue_factor"].abs().max() <= 0.05 and params["hue_factor"].abs().max() > 0.035


@pytest.mark.parametrize("cls", [Affine, Perspective, ColorJitter, Flip], ids=lambda c: c.name)
def test_a_probability_of_zero_leaves_every_view_alone(cls):
    views = many_views(16)
    aug = build(cls, p=0.0)
    assert torch.allclose(aug.apply(views, aug.sample(views)), views)


def test_flip_with_probability_one_mirrors_every_view():
    views = many_views(16)
    flip = build(Flip, p=1.0)
    assert torch.equal(flip.apply(views, flip.sample(views)), views.flip(-1))


def test_noise_adds_its_drawn_noise_at_each_views_own_strength():
    views = many_views(32)
    noise = build(Noise, amount=0.3)
    params = noise.sample(views)
    strength = params["strength"].flatten()
    assert params["noise"].shape == views.shape
    assert strength.min() >= 0 and strength.max() <= 0.3 and strength.max() > 0.2
    assert strength.unique().numel() == 32
    assert torch.allclose(noise.apply(views, params), views + params["strength"] * params["noise"])
    silent = build(Noise, amount=0.0)
    assert torch.equal(silent.apply(views, silent.sample(views)), views)


def test_cutouts_split_views_into_zoomed_and_wide_by_the_fraction():
    boxes = build(Cutouts, count=4, size=8, zoom_fraction=0.25).sample(image())["boxes"]
    lo, hi = boxes.amin(dim=1), boxes.amax(dim=1)
    covers = (lo[:, 0] <= 0) & (lo[:, 1] <= 0) & (hi[:, 0] >= 39) & (hi[:, 1] >= 23)
    assert covers.tolist() == [False, True, True, True]


def test_cut_sizes_follow_min_scale_and_wide_margin():
    boxes = build(Cutouts, count=40, size=8, zoom_fraction=0.5, min_scale=0.8, wide_margin=0.5).sample(image())["boxes"]
    sides = boxes[:, 2, 0] - boxes[:, 0, 0] + 1
    zoomed, wide = sides[:20], sides[20:]
    assert zoomed.min() >= 0.8 * 24 - 1e-4 and zoomed.max() <= 24 + 1e-4
    assert wide.min() >= 40 - 1e-4 and wide.max() <= 40 * 1.5 + 1e-4 and wide.max() > 40 * 1.35
    assert sides.unique().numel() == 40


def test_cutouts_draw_the_padding_mode_from_the_given_list():
    cut = build(Cutouts, count=2, size=8, padding=["zeros", "reflection"])
    x = image()
    modes = {cut.sample(x)["padding"] for _ in range(40)}
    assert modes == {"zeros", "reflection"}
    only = build(Cutouts, count=2, size=8, padding=["border"])
    assert only.sample(image())["padding"] == "border"


def test_replaying_only_the_geometric_links_skips_colour_and_noise():
    chain = AugmentationChain([build(Cutouts, count=4, size=8), build(ColorJitter, p=1.0), build(Noise, amount=0.5)])
    x = image()
    chain(x)
    cut_params = chain.last_params[0]
    assert torch.equal(chain.replay(x, geometric_only=True), chain.links[0].apply(x, cut_params))
    assert not torch.allclose(chain.replay(x), chain.links[0].apply(x, cut_params))


def test_replaying_given_parameters_uses_them_rather_than_the_last_call():
    chain = AugmentationChain([build(Cutouts, count=3, size=8)])
    x = image()
    first = chain(x)
    kept = chain.last_params
    chain(x)
    assert torch.equal(chain.replay(x, kept), first)


def test_replaying_before_any_call_is_an_error():
    with pytest.raises(RuntimeError, match="nothing to replay"):
        AugmentationChain([build(Flip)]).replay(image())
