"""Gaussian noise of a random strength per view."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import pixengine
from pixengine import option


@dataclass
class NoiseOptions:
    amount: float = option(0.1, help="largest noise standard deviation; each view draws its own in [0, amount]", min=0)


class Noise(pixengine.Augmentation):
    """Add Gaussian noise whose strength is drawn per view, as pixray does.

    Written here because kornia's RandomGaussianNoise uses one fixed std for every view."""

    name = "noise"
    Options = NoiseOptions

    def sample(self, x: torch.Tensor) -> dict:
        strength = torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) * self.options.amount
        return {"strength": strength, "noise": torch.randn(x.shape, device=x.device, dtype=x.dtype)}

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        return x + params["strength"] * params["noise"]
