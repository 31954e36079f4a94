"""lpips: loaded through the real loaders from files the test writes (a random torchvision
VGG16 and random lin weights with LPIPS's key names)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from pixengine import StepInputs
from pixengine.errors import ConfigError, WeightsNotFoundError
from pixengine_plugins.perceptual import lpips as lpips_module
from pixengine_plugins.perceptual.lpips import LPIPS, LPIPSOptions
from pixengine_plugins.perceptual.vgg import VGG, VGGOptions

from perceptual_fixtures import CHELSEA, SWIRLS, image, make_ctx

CHANNELS = [64, 128, 256, 512, 512]


@pytest.fixture(scope="module")
def vgg16(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lpips")
    torch.manual_seed(0)
    path = folder / "vgg16-397923af.pth"
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), path)
    model = VGG(VGGOptions(arch="vgg16", weights="torchvision", path=str(path), pooling="max"), make_ctx()).eval()
    return model.requires_grad_(False)


@pytest.fixture
def lin_file(tmp_path):
    torch.manual_seed(1)
    state = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(CHANNELS)}
    path = tmp_path / "vgg.pth"
    torch.save(state, path)
    return path


def _value(loss, x):
    return loss(StepInputs(image=x, views=None, step=0, steps=1))


def test_lpips_is_zero_for_the_target_and_grows_with_distortion(vgg16, lin_file):
    ctx = make_ctx(64, 64, {"vgg": vgg16})
    loss = LPIPS(LPIPSOptions(image=CHELSEA, path=str(lin_file)), ctx)
    target = image(CHELSEA, 64, 64)
    torch.manual_seed(2)
    noise = torch.randn_like(target)
    values = [_value(loss, (target + a * noise).clamp(0, 1)).item() for a in (0.0, 0.05, 0.2)]
    assert values[0] < 1e-6 and values[0] < values[1] < values[2], values
    x = image(SWIRLS, 64, 64).requires_grad_(True)
    _value(loss, x).backward()
    assert x.grad.abs().sum() > 0


def test_lpips_shows_its_target_image_on_the_contact_sheet(vgg16, lin_file):
    loss = LPIPS(LPIPSOptions(image=CHELSEA, path=str(lin_file)), make_ctx(32, 32, {"vgg": vgg16}))
    shown = loss.references()
    assert list(shown) == ["target"] and torch.equal(shown["target"], image(CHELSEA, 32, 32))


def test_unit_lin_weights_equal_the_uncalibrated_distance(vgg16, tmp_path):
    path = tmp_path / "ones.pth"
    torch.save({f"lin{i}.model.1.weight": torch.ones(1, c, 1, 1) for i, c in enumerate(CHANNELS)}, path)
    ctx = make_ctx(48, 48, {"vgg": vgg16})
    calibrated = LPIPS(LPIPSOptions(image=CHELSEA, path=str(path)), ctx)
    plain = LPIPS(LPIPSOptions(image=CHELSEA, uncalibrated=True), ctx)
    x = image(SWIRLS, 48, 48)
    assert _value(calibrated, x).item() == pytest.approx(_value(plain, x).item(), rel=1e-5)


def test_lpips_weights_missing_is_a_clear_error(vgg16, tmp_path, monkeypatch):
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path))
    monkeypatch.setattr(lpips_module, "lpips_package_file", lambda: None)
    with pytest.raises(WeightsNotFoundError, match="pip install lpips"):
        LPIPS(LPIPSOptions(image=CHELSEA), make_ctx(32, 32, {"vgg": vgg16}))


def test_calibrated_lpips_needs_torchvision_vgg16(lin_file, tmp_path):
    path = tmp_path / "vgg19.pth"
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), path)
    vgg19 = VGG(VGGOptions(arch="vgg19", path=str(path)), make_ctx())
    with pytest.raises(ConfigError, match="fit torchvision's VGG16") as info:
        LPIPS(LPIPSOptions(image=CHELSEA, path=str(lin_file)), make_ctx(32, 32, {"vgg": vgg19}))
    assert info.value.key == "model"
    # Uncalibrated works with any VGG.
    LPIPS(LPIPSOptions(image=CHELSEA, uncalibrated=True), make_ctx(32, 32, {"vgg": vgg19}))


def test_a_file_that_is_not_lin_weights_is_rejected(vgg16, tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"lin0.model.1.weight": torch.ones(1, 3, 1, 1)}, path)
    with pytest.raises(ConfigError, match="not LPIPS VGG lin weights"):
        LPIPS(LPIPSOptions(image=CHELSEA, path=str(path)), make_ctx(32, 32, {"vgg": vgg16}))
