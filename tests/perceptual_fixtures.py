"""Fixtures shared by the perceptual and texture tests: the real VGG19 (built once, from a
cache in a temporary folder) and small run contexts."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from pixengine.context import RunContext
from pixengine.images import load_image

CHELSEA = "pkg:pixengine_presets/assets/chelsea.jpg"
SWIRLS = "pkg:pixengine_presets/assets/swirls.png"


def make_ctx(width: int = 64, height: int = 64, models: dict | None = None) -> RunContext:
    return RunContext(
        device=torch.device("cpu"), width=width, height=height, steps=1, seed=0, config=OmegaConf.create({}), models=models or {}
    )


def image(path: str, width: int, height: int) -> torch.Tensor:
    return load_image(path, (width, height))


@pytest.fixture(scope="session")
def vgg_cache(tmp_path_factory):
    """A private weight cache, so tests never write into the user's."""
    folder = tmp_path_factory.mktemp("pixengine-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIXENGINE_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="session")
def vgg19(vgg_cache):
    """The real VGG19 model component (original weights), average pooling, frozen."""
    from pixengine_plugins.perceptual.vgg import VGG, VGGOptions

    model = VGG(VGGOptions(), make_ctx()).eval()
    model.requires_grad_(False)
    return model
