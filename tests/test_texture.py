"""The weight-free texture feature models: the Gabor bank's orientation and scale tuning, and
the soft LBP's convergence to the hard LBP histogram."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from pixengine_plugins.texture.gabor import Gabor, GaborOptions, gabor_bank
from pixengine_plugins.texture.lbp import LBP, LBPOptions, soft_lbp, uniform_patterns


def grating(size: int, frequency: float, theta: float) -> torch.Tensor:
    """(1, 3, size, size) grey sinusoidal stripes whose intensity changes along angle theta
    (from the x axis towards the rows), written independently of the filter code."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    value = 0.5 + 0.4 * np.sin(2 * np.pi * frequency * (cols * np.cos(theta) + rows * np.sin(theta)))
    return torch.tensor(value, dtype=torch.float32).expand(1, 3, size, size).clone()


@pytest.mark.parametrize("index", range(6))
def test_gabor_response_peaks_at_the_grating_orientation(index):
    model = Gabor(GaborOptions(orientations=6, scales=1, opponent=False), None)
    theta = math.pi * index / 6
    response = model.features(grating(64, 0.25, theta), ["scale0"])["scale0"][..., 16:-16, 16:-16].mean(dim=(0, 2, 3))
    assert int(response.argmax()) == index
    # Clearly tuned: the orthogonal filter responds far less.
    assert response[(index + 3) % 6] < 0.2 * response[index]


def test_gabor_response_peaks_at_the_grating_scale():
    model = Gabor(GaborOptions(orientations=4, scales=3, frequency=0.25, opponent=False), None)
    for scale, frequency in enumerate((0.25, 0.125, 0.0625)):
        layers = model.features(grating(128, frequency, 0.0), ["scale0", "scale1", "scale2"])
        energy = torch.stack([layers[f"scale{s}"][..., 8:-8, 8:-8].mean() for s in range(3)])
        assert int(energy.argmax()) == scale, (frequency, energy)


def test_gabor_kernels_are_zero_mean_and_flat_images_give_no_response():
    bank = gabor_bank(0.25, 6)
    assert bank.shape == (12, 1, 15, 15)
    assert bank.sum(dim=(1, 2, 3)).abs().max() < 1e-5
    flat = Gabor(GaborOptions(scales=2), None).features(torch.full((1, 3, 40, 40), 0.7), ["scale0", "scale1"])
    assert all(v.max() < 1e-3 for v in flat.values())


def test_gabor_colour_layer_and_small_images():
    model = Gabor(GaborOptions(scales=3), None)
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(model.features(x, ["color"])["color"], x)
    with pytest.raises(ValueError, match="too small for Gabor layer scale2"):
        model.features(torch.rand(1, 3, 24, 24), ["scale2"])


def test_uniform_pattern_count():
    for points in (4, 8, 16):
        patterns, labels = uniform_patterns(points)
        assert patterns.shape == (points * (points - 1) + 2, points)
        assert torch.equal(labels, patterns.sum(dim=1).long())
        assert len({tuple(r.tolist()) for r in patterns}) == len(patterns)


def _hard_histogram(img: np.ndarray, points: int, radius: float, margin: int) -> np.ndarray:
    from skimage.feature import local_binary_pattern

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float images draw a precision warning
        codes = local_binary_pattern(img, points, radius, method="uniform")[margin:-margin, margin:-margin]
    return np.bincount(codes.astype(int).ravel(), minlength=points + 2) / codes.size


@pytest.mark.parametrize("points,radius", [(8, 1.0), (8, 2.0), (16, 2.0), (8, 1.5)])
def test_soft_lbp_histogram_approaches_the_hard_one_as_softness_goes_to_zero(points, radius):
    pytest.importorskip("skimage")
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(np.random.default_rng(0).random((40, 40)), 1.0)
    margin = math.ceil(radius) + 1
    hard = _hard_histogram(img, points, radius, margin)
    x = torch.tensor(img, dtype=torch.float64)[None, None]
    errors = []
    for softness in (1e-2, 1e-3, 1e-4, 1e-6):
        soft = soft_lbp(x, points, radius, softness)[0, :, margin:-margin, margin:-margin].mean(dim=(1, 2)).numpy()
        errors.append(np.abs(soft - hard).sum())
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-3 and errors[0] > 10 * errors[-1], errors


def test_soft_lbp_is_a_distribution_and_differentiable():
    x = torch.rand(1, 1, 24, 24, dtype=torch.float64, requires_grad=True)
    probs = soft_lbp(x, 8, 1.0, 0.05)
    assert probs.shape == (1, 10, 24, 24)
    assert torch.allclose(probs.sum(dim=1), torch.ones(1, 24, 24, dtype=torch.float64))
    assert (probs >= 0).all()
    probs[:, 3].mean().backward()
    assert x.grad.abs().sum() > 0


def test_soft_lbp_histogram_is_rotation_invariant():
    x = torch.rand(1, 1, 30, 30, dtype=torch.float64)
    hist = soft_lbp(x, 8, 1.0, 0.05)[..., 2:-2, 2:-2].mean(dim=(2, 3))
    turned = soft_lbp(x.rot90(1, dims=(2, 3)), 8, 1.0, 0.05)[..., 2:-2, 2:-2].mean(dim=(2, 3))
    assert torch.allclose(hist, turned, atol=1e-10)


def test_lbp_model_layers():
    model = LBP(LBPOptions(radii=[1.0, 2.5]), None)
    assert model.layer_names == ["r1", "r2"]
    out = model.features(torch.rand(2, 3, 20, 20), ["r2"])
    assert out["r2"].shape == (2, 10, 20, 20)
    with pytest.raises(ValueError, match="too small for LBP radius 2.5"):
        model.features(torch.rand(1, 3, 4, 4), ["r2"])


def test_gabor_opponent_channels_see_colour_stripes_that_luminance_misses():
    model = Gabor(GaborOptions(orientations=4, scales=1), None)
    stripes = grating(64, 0.25, 0.0)[:, :1]  # (1, 1, H, W) in [0.1, 0.9]
    # Red and green in counter-phase, luminance-balanced: kornia's grey = .299 R + .587 G + .114 B.
    red = stripes
    green = 0.5 - (stripes - 0.5) * 0.299 / 0.587
    x = torch.cat([red, green, torch.full_like(red, 0.5)], dim=1)
    energy = model.features(x, ["scale0"])["scale0"][..., 16:-16, 16:-16].mean(dim=(0, 2, 3)).view(3, 4)
    luminance, red_green, blue_yellow = energy.max(dim=1).values
    assert red_green > 20 * luminance
    assert int(energy[1].argmax()) == 0  # the stripes' orientation, in the red-green channel
