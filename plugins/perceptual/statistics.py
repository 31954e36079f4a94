"""Summaries of feature maps and the distances between them, shared by the feature losses.

Feature maps are (B, C, H, W). Summaries average over positions, so images of different sizes
(a style image and the canvas) have comparable summaries.
"""

from __future__ import annotations

import torch

EPS = 1e-8


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, C): channel co-activations averaged over positions, F Fᵀ / (H W) (Gatys et al.
    sum over positions; the mean keeps the value independent of the image size)."""
    b, c, h, w = features.shape
    if features.is_contiguous(memory_format=torch.channels_last):
        # A view in the features' own layout: copying them to (B, C, HW) would make the gradient
        # come back in the other layout, and adding it to the network's own cost more than the copy.
        flat = features.permute(0, 2, 3, 1).reshape(b, h * w, c)
        return flat.transpose(1, 2) @ flat / (h * w)
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def mean_std(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over positions, each (B, C) (Manjunath & Ma's
    texture descriptor when the features are Gabor magnitudes)."""
    mean = features.mean(dim=(2, 3))  # over positions, whatever the memory layout
    std = (features - mean[..., None, None]).pow(2).mean(dim=(2, 3)).add(EPS).sqrt()
    return mean, std


def check_same(what: str, value: torch.Tensor, target: torch.Tensor) -> None:
    """Summaries are compared per sample against one target: all but the batch size must agree."""
    if value.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"{what}: cannot compare shape {tuple(value.shape[1:])} with the target's {tuple(target.shape[1:])}; "
            "were they made by the same model and layer?"
        )


def distance(value: torch.Tensor, target: torch.Tensor, normalize: str, what: str = "features") -> torch.Tensor:
    """Squared error of ``value`` (B, ...) against ``target`` (1 or B, ...), averaged over the
    batch. ``relative`` divides by the target's squared size, so layers whose activations differ
    by orders of magnitude weigh alike; ``mse`` is the plain mean squared error."""
    check_same(what, value, target)
    diff = (value - target).pow(2).flatten(1)
    if normalize == "relative":
        return (diff.sum(dim=1) / (target.pow(2).flatten(1).sum(dim=1) + EPS)).mean()
    return diff.mean()
