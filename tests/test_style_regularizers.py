"""palette, saturation, symmetry, isotropic tv, and color_stats' histogram mode."""

from __future__ import annotations

import pytest
import torch

from pixengine import StepInputs
from pixengine.errors import ConfigError
from pixengine.images import tensor_to_pil
from pixengine_plugins.regularizers import (
    Palette,
    PaletteOptions,
    Saturation,
    SaturationOptions,
    Symmetry,
    SymmetryOptions,
    TotalVariation,
    TotalVariationOptions,
    image_palette,
    parse_colours,
)
from pixengine_plugins.targets import ColorStats, ColorStatsOptions, quantiles

from perceptual_fixtures import make_ctx


def _value(loss, x: torch.Tensor) -> torch.Tensor:
    return loss(StepInputs(image=x, views=None, step=0, steps=1))


def test_palette_is_zero_on_palette_colours_and_counts_the_nearest_one():
    loss = Palette(PaletteOptions(colors=["red", "#0000ff"]), make_ctx())
    x = torch.zeros(1, 3, 2, 2)
    x[:, 0, 0] = 1.0  # top row red
    x[:, 2, 1] = 1.0  # bottom row blue
    assert _value(loss, x).item() < 1e-6
    grey = torch.full((1, 3, 1, 1), 0.5)
    # nearest of red and blue to grey: 0.25 + 0.25 + 0.25
    assert _value(loss, grey).item() == pytest.approx(0.75, abs=1e-5)
    assert loss.references()["palette"].shape == (1, 3, 64, 64)



def test_a_palette_taken_from_an_image_shows_that_image_beside_its_swatch(tmp_path):
    from PIL import Image

    path = tmp_path / "two.png"
    Image.new("RGB", (8, 4), (255, 0, 0)).save(path)
    loss = Palette(PaletteOptions(image=str(path), count=1), make_ctx())
    shown = loss.references()
    assert set(shown) == {"palette", "palette image"}
    red = shown["palette image"].amin(dim=(0, 2, 3)), shown["palette image"].amax(dim=(0, 2, 3))
    assert torch.allclose(red[0], torch.tensor([1.0, 0.0, 0.0])) and torch.allclose(red[1], torch.tensor([1.0, 0.0, 0.0]))


def test_palette_options_are_checked():
    with pytest.raises(ConfigError, match="'blurple' is not a colour"):
        parse_colours(["red", "blurple"])
    with pytest.raises(ConfigError, match="either 'colors'"):
        Palette(PaletteOptions(), make_ctx())


def test_palette_ramps_as_pixray_writes_them():
    ramp = parse_colours(["black->white\\3"]) * 255
    assert torch.allclose(ramp, torch.tensor([[0.0, 0, 0], [127.5, 127.5, 127.5], [255, 255, 255]]))
    # Through a middle stop, evenly spaced along the whole path; the count defaults to 5.
    three_stops = parse_colours(["black->red->white"]) * 255
    expected = [[0, 0, 0], [127.5, 0, 0], [255, 0, 0], [255, 127.5, 127.5], [255, 255, 255]]
    assert torch.allclose(three_stops, torch.tensor(expected))
    assert parse_colours(["#000->#fff\\4", "red"]).shape == (5, 3)
    with pytest.raises(ConfigError, match=r"'blurple' in 'black->blurple' is not a colour"):
        parse_colours(["black->blurple"])
    with pytest.raises(ConfigError, match=r"the count after '\\' must be a whole number of at least 2"):
        parse_colours(["black->white\\1"])
    with pytest.raises(ConfigError, match=r"the count after"):
        parse_colours(["black->white\\many"])


def test_palette_from_an_image_finds_its_colours():
    two = torch.zeros(1, 3, 8, 8)
    two[:, 1, :, :4] = 1.0  # green left half
    two[:, :, :, 4:] = 1.0  # white right half
    found = image_palette(two, 2)
    expected = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    assert torch.cdist(found, expected).min(dim=0).values.max() < 1e-4


def test_saturation_pulls_towards_its_target():
    vivid, grey = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1), torch.full((1, 3, 1, 1), 0.4)
    loss = Saturation(SaturationOptions(target=1.0), make_ctx())
    assert _value(loss, vivid).item() == pytest.approx(0.0, abs=1e-6)
    assert _value(loss, grey).item() == pytest.approx(1.0, abs=1e-4)
    x = torch.tensor([0.6, 0.4, 0.4]).view(1, 3, 1, 1).requires_grad_(True)
    _value(loss, x).backward()
    assert x.grad[0, 0] < 0 and x.grad[0, 1] > 0  # more red, less green: more saturated


def test_symmetry_axes():
    x = torch.rand(1, 3, 6, 6)
    mirrored = (x + x.flip(-1)) / 2
    left_right = Symmetry(SymmetryOptions(axis="left_right"), make_ctx())
    assert _value(left_right, mirrored).item() < 1e-12
    assert _value(left_right, x).item() > 1e-3
    assert _value(Symmetry(SymmetryOptions(axis="top_bottom"), make_ctx()), mirrored).item() > 1e-3
    turned = (x + x.rot90(2, dims=(2, 3))) / 2
    assert _value(Symmetry(SymmetryOptions(axis="rotation"), make_ctx()), turned).item() < 1e-12
    both = (mirrored + mirrored.flip(-2)) / 2
    assert _value(Symmetry(SymmetryOptions(axis="both"), make_ctx()), both).item() < 1e-12


def test_isotropic_total_variation_by_hand():
    x = torch.zeros(1, 1, 3, 3)
    x[..., 0, 0] = 1.0
    loss = TotalVariation(TotalVariationOptions(norm="isotropic"), make_ctx())
    # Only the top-left 2x2 gradient is non-zero: dx = -1, dy = -1 -> sqrt(2), over 4 positions.
    assert _value(loss, x).item() == pytest.approx(2**0.5 / 4, abs=1e-4)
    assert _value(loss, torch.full((1, 3, 5, 5), 0.3)).item() < 1e-3


def _histogram_loss(tmp_path, target: torch.Tensor) -> ColorStats:
    """A histogram-mode color_stats whose target file holds ``target`` (8-bit)."""
    path = tmp_path / "target.png"
    tensor_to_pil(target).save(path)
    h, w = target.shape[-2:]
    return ColorStats(ColorStatsOptions(image=str(path), statistics="histogram", colorspace="rgb"), make_ctx(w, h))


def test_histogram_mode_ignores_where_colours_are(tmp_path):
    torch.manual_seed(0)
    loss = _histogram_loss(tmp_path, torch.rand(1, 3, 16, 16))
    target = loss.target
    shuffled = target.flatten(2)[:, :, torch.randperm(256)].view(1, 3, 16, 16)
    assert _value(loss, shuffled).item() < 1e-10
    assert _value(loss, target.clamp(0.2, 0.8)).item() > 1e-4


def test_histogram_mode_is_the_squared_shift_along_each_axis(tmp_path):
    torch.manual_seed(0)
    loss = _histogram_loss(tmp_path, torch.rand(1, 3, 8, 8) * 0.5)
    target = loss.target
    shifted = target.clone()
    shifted[:, 0] += 0.2  # red shifted by 0.2: projections on unit direction d shift by 0.2 * d_red
    expected = (0.2 * loss.directions[:, 0]).pow(2).mean()
    assert _value(loss, shifted).item() == pytest.approx(expected.item(), rel=1e-4)


def test_histogram_mode_compares_images_of_different_sizes(tmp_path):
    torch.manual_seed(0)
    loss = _histogram_loss(tmp_path, torch.rand(1, 3, 32, 32))
    target = loss.target
    small = torch.nn.functional.interpolate(target, size=(8, 8), mode="nearest")
    assert _value(loss, small).item() < 0.01
    assert quantiles(torch.arange(4.0).view(4, 1), 2).flatten().tolist() == [0.5, 2.5]


def test_histogram_mode_through_the_option(tmp_path):
    from PIL import Image

    path = tmp_path / "grey.png"
    Image.new("RGB", (16, 16), (128, 128, 128)).save(path)
    loss = ColorStats(ColorStatsOptions(image=str(path), statistics="histogram"), make_ctx(16, 16))
    assert _value(loss, torch.full((1, 3, 16, 16), 128 / 255)).item() < 1e-8
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    value = _value(loss, x)
    value.backward()
    assert value.item() > 1e-3 and x.grad.abs().sum() > 0
