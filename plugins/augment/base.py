"""A pixengine augmentation around one kornia augmentation: kornia already separates drawing
the random parameters (``forward_parameters``) from applying them (``params=``), which is what
replaying views needs."""

from __future__ import annotations

import torch
from torch import nn

import pixengine

#: Help text of every augmentation's ``p`` option.
P_HELP = "probability that a view is transformed"


class KorniaAugmentation(pixengine.Augmentation):
    """Base: subclasses return the kornia module from :meth:`build`."""

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.op = self.build(options)

    def build(self, options) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, x: torch.Tensor) -> dict:
        return self.op.forward_parameters(x.shape)

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        return self.op(x, params=params)
