"""What the CLIP losses share: looking up CLIP models by label, one image embedding per model
per step, and the distances between unit embeddings."""

from __future__ import annotations

import math

import torch

from pixengine import ConfigError
from pixengine.protocols import ImageTextEmbedder, require


def is_clip(model) -> bool:
    return isinstance(model, ImageTextEmbedder)


def clip_models(ctx, weights: dict[str, float] | None, key: str = "models") -> list[tuple[str, float, object]]:
    """(label, weight, model) for each entry of a loss's ``models`` option; None means every
    CLIP model of the run with weight 1."""
    if weights is None:
        weights = {label: 1.0 for label, model in (ctx.models or {}).items() if is_clip(model)}
        if not weights:
            raise ConfigError("the run has no CLIP model: add one to the `models` section (type: open_clip)", key=key)
    if not weights:
        raise ConfigError("name at least one CLIP model, e.g. {clip: 1.0}", key=key)
    found = []
    for label, weight in weights.items():
        model = ctx.model(label)
        require(model, ImageTextEmbedder, label, key, "open_clip")
        if not math.isfinite(weight):
            raise ConfigError(f"the weight of model '{label}' must be finite, got {weight}", key=key)
        found.append((str(label), float(weight), model))
    return found


def image_embeddings(inputs, label: str, model) -> torch.Tensor:
    """The step's views (or the image, without a chain) embedded by the model labelled
    ``label``: computed once per step and shared by every loss that asks."""
    images = inputs.views if inputs.views is not None else inputs.image
    return inputs.cached(("embed_images", label), lambda: model.embed_images(images))


def spherical_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, D) and (P, D) unit vectors -> (N, P): half the squared angle between them, the
    great-circle distance VQGAN+CLIP and pixray use; 0 when equal, pi^2/2 when opposite."""
    chord = (a[:, None, :] - b[None, :, :]).norm(dim=-1)
    return chord.div(2).clamp(max=1).arcsin().pow(2).mul(2)


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, D) and (P, D) unit vectors -> (N, P): 1 - cosine similarity, in [0, 2]."""
    return 1 - a @ b.T


DISTANCES = {"spherical": spherical_distance, "cosine": cosine_distance}
