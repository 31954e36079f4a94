"""The built-in pixels parameterization and the model-free losses, against hand computations."""

from __future__ import annotations


import pytest
import torch
from omegaconf import OmegaConf

from pixengine.color import decorrelated_to_rgb, logit, rgb_to_decorrelated
from pixengine.components import StepInputs
from pixengine.context import RunContext
from pixengine.images import load_image
from pixengine_plugins.pixels import PixelOptions, Pixels
from pixengine_plugins.regularizers import TotalVariation, TotalVariationOptions
from pixengine_plugins.targets import ColorStats, ColorStatsOptions, colour_statistics

CAT = "pkg:pixengine_presets/assets/chelsea.jpg"


def context(width=24, height=16) -> RunContext:
    return RunContext(device=torch.device("cpu"), width=width, height=height, steps=1, seed=0, config=OmegaConf.create({}))


def inputs(image) -> StepInputs:
    return StepInputs(image=image, views=None, step=0, steps=1)


@pytest.mark.parametrize("colorspace", ["rgb", "decorrelated"])
def test_pixels_start_from_an_image_exactly(colorspace):
    pixels = Pixels(PixelOptions(init_image=CAT, init_noise=0.0, colorspace=colorspace), context())
    image = pixels()
    assert image.shape == (1, 3, 16, 24)
    target = load_image(CAT, (24, 16))
    assert (image - target).abs().max() < 1e-3


def test_pixel_size_makes_blocks_and_keeps_the_canvas_size():
    pixels = Pixels(PixelOptions(pixel_size=4, init_noise=1.0), context(width=22, height=10))
    image = pixels()
    assert image.shape == (1, 3, 10, 22)
    assert pixels.logits.shape == (1, 3, 3, 6)
    assert torch.equal(image[..., 0:4, 0:4], image[..., 0:1, 0:1].expand(1, 3, 4, 4))


def test_decorrelation_round_trip():
    x = torch.randn(2, 3, 5, 7)
    assert torch.allclose(decorrelated_to_rgb(rgb_to_decorrelated(x)), x, atol=1e-5)
    assert torch.allclose(torch.sigmoid(logit(torch.tensor([0.2, 0.5, 0.9]))), torch.tensor([0.2, 0.5, 0.9]))


def test_total_variation_against_hand_computation():
    image = torch.tensor([[0.0, 1.0], [0.5, 0.5]]).expand(1, 3, 2, 2)
    # |dx| = (1, 0) and |dy| = (0.5, 0.5): mean of each direction, added.
    tv_l1 = TotalVariation(TotalVariationOptions(norm="l1"), context())(inputs(image))
    assert tv_l1.item() == pytest.approx(0.5 + 0.5)
    tv_l2 = TotalVariation(TotalVariationOptions(norm="l2"), context())(inputs(image))
    assert tv_l2.item() == pytest.approx((1 + 0) / 2 + (0.25 + 0.25) / 2)


def test_colour_statistics_against_hand_computation():
    x = torch.tensor([[[[0.0, 1.0]], [[1.0, 1.0]], [[0.2, 0.6]]]])  # (1, 3, 1, 2)
    mean, cov = colour_statistics(x, full=True)
    assert torch.allclose(mean, torch.tensor([0.5, 1.0, 0.4]))
    assert torch.allclose(cov, torch.tensor([[0.25, 0.0, 0.1], [0.0, 0.0, 0.0], [0.1, 0.0, 0.04]]), atol=1e-6)
    _, std = colour_statistics(x, full=False)
    assert torch.allclose(std, torch.tensor([0.5, 0.0, 0.2]), atol=1e-3)


def test_color_stats_is_zero_on_its_own_image_and_positive_elsewhere():
    loss = ColorStats(ColorStatsOptions(image=CAT), context())
    cat = load_image(CAT, (24, 16))
    assert loss(inputs(cat)).item() < 1e-10
    assert loss(inputs(torch.full_like(cat, 0.5))).item() > 1e-3


def black_and_white(width=24, height=16) -> torch.Tensor:
    """An image whose left half is pure black and right half pure white."""
    image = torch.zeros(1, 3, height, width)
    image[..., width // 2 :] = 1.0
    return image


@pytest.mark.parametrize("colorspace", ["rgb", "decorrelated"])
def test_clamped_pixels_start_exactly_at_the_image_even_at_pure_black(colorspace, tmp_path):
    from pixengine.images import tensor_to_pil

    path = tmp_path / "bw.png"
    tensor_to_pil(black_and_white()).save(path)
    pixels = Pixels(PixelOptions(init_image=str(path), init_noise=0.0, colorspace=colorspace, bound="clamp"), context())
    assert (pixels() - black_and_white()).abs().max() < 1e-6  # the sigmoid's start is 1e-4 off at 0 and 1
    assert pixels.values.shape == (1, 3, 16, 24) and not hasattr(pixels, "logits")


@pytest.mark.parametrize("colorspace", ["rgb", "decorrelated"])
def test_clamped_pixels_feel_gradients_at_0_and_1_and_are_projected_back(colorspace, tmp_path):
    pixels = Pixels(PixelOptions(init_noise=0.0, colorspace=colorspace, bound="clamp"), context())
    with torch.no_grad():
        pixels.values.copy_(pixels._from_rgb(black_and_white()))
    # Pulling every pixel towards grey: black must feel the pull up, white the pull down.
    (pixels() - 0.5).pow(2).sum().backward()
    grad = pixels._to_rgb(pixels.values.grad)
    assert (grad[..., :12] < -0.9).all() and (grad[..., 12:] > 0.9).all()
    with torch.no_grad():
        pixels.values.add_(pixels._from_rgb(torch.full((1, 3, 16, 24), 0.7)))  # the white half leaves the cube
        image = pixels()
        assert image.min() >= 0 and image.max() <= 1  # forward clamps...
        pixels.project()  # ...and the projection puts the values themselves back
        rgb = pixels._to_rgb(pixels.values)
    assert rgb.min() >= -1e-6 and rgb.max() <= 1 + 1e-6
    assert torch.allclose(rgb[..., :12], torch.full_like(rgb[..., :12], 0.7), atol=1e-5)


def test_sigmoid_pixels_at_pure_black_barely_feel_a_gradient(tmp_path):
    """Why `bound: clamp` exists: the sigmoid's derivative at logit(0) is about 1e-4."""
    from pixengine.images import tensor_to_pil

    path = tmp_path / "bw.png"
    tensor_to_pil(black_and_white()).save(path)
    pixels = Pixels(PixelOptions(init_image=str(path), init_noise=0.0), context())
    (pixels() - 0.5).pow(2).sum().backward()
    assert pixels.logits.grad.abs().max() < 1e-3


def test_bound_is_checked_with_its_key():
    import pixengine
    from pixengine.errors import ConfigError

    with pytest.raises(ConfigError, match="'tanh' is not one of 'sigmoid', 'clamp'") as info:
        pixengine.resolve("repaint", **{"parameterization.bound": "tanh"})
    assert info.value.key == "parameterization.bound"


def test_a_blurred_target_matches_layout_and_ignores_fine_detail():
    from pixengine_plugins.targets import TargetImage, TargetImageOptions

    ctx = context(48, 32)
    target = load_image(CAT, (48, 32))
    checker = (torch.arange(48).view(1, -1) + torch.arange(32).view(-1, 1)) % 2 * 0.2 - 0.1  # +-0.1, one-pixel squares
    detailed = (target + checker).clamp(0, 1)
    sharp = TargetImage(TargetImageOptions(image=CAT, metric="l1"), ctx)
    blurred = TargetImage(TargetImageOptions(image=CAT, metric="l1", blur=2.0), ctx)
    assert sharp(inputs(detailed)).item() > 0.08  # every pixel is off by about 0.1
    assert blurred(inputs(detailed)).item() < 0.25 * sharp(inputs(detailed)).item()  # the checker blurs away
    shifted = torch.roll(target, 8, dims=-1)  # a layout change is still seen through the blur
    assert blurred(inputs(shifted)).item() > 2 * blurred(inputs(detailed)).item()


@pytest.mark.parametrize("size", [(40, 10), (10, 40)])  # padded left and right, then top and bottom
def test_contain_fits_the_whole_image_centred_on_its_mean_colour(size):
    from pixengine.images import fit_tensor

    image = torch.rand(1, 3, 8, 8)
    width, height = size
    fitted = fit_tensor(image, width, height, fit="contain")
    side = min(width, height)
    top, left = (height - side) // 2, (width - side) // 2
    assert fitted.shape == (1, 3, height, width)
    inside = fitted[:, :, top : top + side, left : left + side]
    assert torch.allclose(inside.mean(dim=(2, 3)), image.mean(dim=(2, 3)), atol=0.02)
    outside = fitted.clone()
    outside[:, :, top : top + side, left : left + side] = image.mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(outside, image.mean(dim=(2, 3), keepdim=True).expand_as(fitted))
