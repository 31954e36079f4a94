"""How losses use a *feature model*: look it up by label, check layer names, and share one
forward pass per step among every loss that reads the same model.

A feature model is a :class:`pixengine.protocols.FeatureExtractor`: ``layer_names``,
``default_layers`` and ``features(images, layers) -> {layer: (B, C, h, w)}`` for images in [0, 1].
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch

from pixengine.errors import ConfigError
from pixengine.protocols import FeatureExtractor, require

# Layers each model must compute per step: the union of what its losses asked for, so one
# forward pass serves them all. Weak, so a finished run's models are freed.
_requested: "weakref.WeakKeyDictionary[torch.nn.Module, list[str]]" = weakref.WeakKeyDictionary()


def feature_model(ctx, label: str, key: str = "model"):
    model = ctx.model(label)
    require(model, FeatureExtractor, label, key, "vgg, gabor or lbp")
    return model


def choose_layers(
    model, label: str, layers: Sequence[str], weights: Sequence[float], normalize: bool = True
) -> tuple[list[str], torch.Tensor]:
    """The layers to use (the model's defaults when none are given) and their weights (1 each
    when none are given), normalised to sum to 1 unless ``normalize`` is false, so that adding
    layers does not change the loss's scale."""
    layers = list(layers) or list(model.default_layers)
    unknown = [name for name in layers if name not in model.layer_names]
    if unknown:
        raise ConfigError(
            f"model '{label}' has no layer {', '.join(map(repr, unknown))}; valid: {', '.join(model.layer_names)}",
            key="layers",
        )
    if len(set(layers)) != len(layers):
        raise ConfigError(f"a layer is listed twice in {layers}", key="layers")
    if weights and len(weights) != len(layers):
        raise ConfigError(
            f"{len(weights)} layer_weights for {len(layers)} layers ({', '.join(layers)}); give one weight per layer or none",
            key="layer_weights",
        )
    values = torch.tensor(list(weights) if weights else [1.0] * len(layers), dtype=torch.float32)
    if (values < 0).any() or values.sum() <= 0:
        raise ConfigError("layer_weights must be non-negative with a positive sum", key="layer_weights")
    request(model, layers)
    return layers, values / values.sum() if normalize else values


def request(model, layers: Sequence[str]) -> None:
    wanted = _requested.setdefault(model, [])
    wanted.extend(name for name in layers if name not in wanted)


def step_features(inputs, label: str, model, views: bool) -> dict[str, torch.Tensor]:
    """This step's features of the image (or of the augmentation chain's views), computed once
    per step for all losses reading ``label``."""
    use_views = views and inputs.views is not None
    images = inputs.views if use_views else inputs.image
    layers = _requested.get(model) or list(model.default_layers)
    return inputs.cached(("features", label, use_views), lambda: model.features(images, layers))
