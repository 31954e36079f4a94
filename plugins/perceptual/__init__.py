"""Perceptual plugins: the ``vgg`` feature model and the losses that compare deep features
(content, Gatys style, feature statistics, LPIPS). The losses work with any *feature model*:
a model with ``layer_names``, ``default_layers`` and ``features(images, layers)``, such as
``vgg`` here or the weight-free ``gabor`` and ``lbp`` of the texture plugins."""

from __future__ import annotations

import pixengine

from .losses import Content, FeatureStats, Style
from .lpips import LPIPS
from .vgg import VGG


@pixengine.hookimpl
def register_models(register):
    register(VGG)


@pixengine.hookimpl
def register_losses(register):
    register(Content)
    register(Style)
    register(FeatureStats)
    register(LPIPS)
