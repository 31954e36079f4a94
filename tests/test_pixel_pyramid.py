"""``pixels`` with ``pyramid``: the image as a sum of levels at halving resolutions, a change of
variables that lets the optimiser move whole regions. It must keep every promise plain pixels
keep (the parameterization contract), start at the given image, and stay in [0, 1] when
clamped, whatever the coarse levels hold."""

from __future__ import annotations

import pytest
import torch

import pixengine
from pixengine.testing.contracts import ParameterizationContract

CAT = "pkg:pixengine_presets/assets/chelsea.jpg"


@pytest.mark.parametrize("bound", ["clamp", "sigmoid"])
def test_a_pyramid_of_pixels_keeps_the_parameterization_contract(bound, tmp_path):
    contract = ParameterizationContract("pixels", tmp_path, options={"pyramid": 3, "bound": bound})
    for check in contract.checks:
        getattr(contract, check)()


def _pixels(quick, **options):
    section = {"type": "pixels", "bound": "clamp", "init_image": CAT, "init_noise": 0.0, **options}
    run = pixengine.prepare("repaint", width=48, height=40, parameterization=section, **quick)
    return run.parameterization


def test_coarser_levels_halve_in_size_and_start_at_zero_so_the_first_frame_is_the_image(quick):
    plain, pyramid = _pixels(quick), _pixels(quick, pyramid=4)
    assert [tuple(level.shape[-2:]) for level in pyramid.coarse] == [(20, 24), (10, 12), (5, 6)]
    assert all(not level.any() for level in pyramid.coarse)
    assert torch.equal(pyramid(), plain())
    names = {name for name, _ in pyramid.named_parameters()}
    assert names == {"values", "coarse.0", "coarse.1", "coarse.2"}


def test_a_coarse_level_moves_a_whole_region_and_its_weight_scales_it(quick):
    for weight in (0.5, 0.25):
        pixels = _pixels(quick, pyramid=3, pyramid_weight=weight, colorspace="rgb")
        before = pixels().detach()
        with torch.no_grad():
            pixels.coarse[1].fill_(0.1)  # level 2 (12x10): every output pixel moves
        moved = pixels().detach() - before
        inside = (before > 0.05) & (before < 0.95)  # pixels the clamp does not hold
        assert torch.allclose(moved[inside], torch.full_like(moved[inside], 0.1 * weight**2), atol=1e-6)


def test_clamping_takes_the_excess_from_the_full_resolution_level(quick):
    pixels = _pixels(quick, pyramid=3, colorspace="rgb")
    with torch.no_grad():
        pixels.coarse[0].fill_(4.0)  # pushes every pixel far above 1
        coarse_before = [level.clone() for level in pixels.coarse]
        pixels.project()
        image = pixels.field
    assert image.min() >= 0 and image.max() <= 1 + 1e-6
    assert torch.allclose(image, torch.ones_like(image), atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(coarse_before, pixels.coarse))


def test_growing_keeps_the_image_and_restarts_the_coarse_levels(quick):
    pixels = _pixels(quick, pyramid=3, colorspace="rgb")
    with torch.no_grad():
        pixels.coarse[0].normal_(0, 0.2)
        pixels.project()
        before = pixels.field.detach()
    pixels.resize(96, 80)  # what the engine's grow step calls (forward() would still crop to the old size)
    with torch.no_grad():
        after = pixels.field.detach()
    assert after.shape[-2:] == (80, 96) and [tuple(level.shape[-2:]) for level in pixels.coarse] == [(40, 48), (20, 24)]
    assert all(not level.any() for level in pixels.coarse)
    upsampled = torch.nn.functional.interpolate(before, size=(80, 96), mode="bilinear", align_corners=False)
    assert torch.allclose(after, upsampled, atol=1e-6)  # the whole picture, coarse levels included
