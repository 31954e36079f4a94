"""The augmentation chain: the run's augmentations applied in config order, with the random
parameters of the last call kept so the same views can be made again from another input
(e.g. the initial image, or the same image at another resolution)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .components import Augmentation


class AugmentationChain(nn.Module):
    def __init__(self, links: list[Augmentation]):
        super().__init__()
        self.links = nn.ModuleList(links)
        #: Parameters sampled by the last forward call, one entry per link.
        self.last_params: list[Any] | None = None

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        params = []
        x = image
        for link in self.links:
            p = link.sample(x)
            x = link.apply(x, p)
            params.append(p)
        self.last_params = params
        return x

    def replay(self, image: torch.Tensor, params: list[Any] | None = None, geometric_only: bool = False) -> torch.Tensor:
        """Apply the parameters of the last call (or ``params``) to ``image``; with
        ``geometric_only``, only the links that move pixels (for masks: no colour or noise)."""
        params = self.last_params if params is None else params
        if params is None:
            raise RuntimeError("nothing to replay: the chain has not been called yet")
        x = image
        for link, p in zip(self.links, params):
            if link.geometric or not geometric_only:
                x = link.apply(x, p)
        return x
