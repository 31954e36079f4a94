"""The ``latent_anchor`` loss: StyleCLIP's L2 distance from the latent to where it started.

Why a loss rather than a term inside the parameterization: as a loss it has its own weight
(StyleCLIP's lambda) in the ``losses`` section, shows in the progress bar and ``log.jsonl``
beside the other terms, can be removed with ``null`` like any loss, and works with any
parameterization that exposes a latent, without the engine knowing about latents at all.

The interface it reads from ``ctx.parameterization``: ``latent()`` (the current latent,
differentiable) and ``start_latent`` (the tensor it started from, set after initialisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import pixengine
from pixengine import ConfigError, LossOptions, option


@dataclass
class LatentAnchorOptions(LossOptions):
    weight: float = option(0.008, help="multiplier of the distance (StyleCLIP's lambda, 0.008)")
    reduction: str = option("sum", help="sum the squared differences (StyleCLIP) or average them", choices=["sum", "mean"])


class LatentAnchor(pixengine.Loss):
    """Squared L2 distance from the parameterization's latent to its starting latent.

    Needs a latent parameterization (``vqgan``, ``stylegan2``, or any that defines
    ``latent()`` and ``start_latent``). It reads the start when it runs, so a start chosen by
    ``init: topk`` before step 1 is the anchor. While the engine scores candidate images for such
    an initialisation (step -1) it contributes nothing: a candidate has no distance to a start
    that does not exist yet.
    """

    name = "latent_anchor"
    Options = LatentAnchorOptions

    def __init__(self, options: LatentAnchorOptions, ctx):
        super().__init__(options, ctx)
        parameterization = ctx.parameterization
        if not (callable(getattr(parameterization, "latent", None)) and hasattr(parameterization, "start_latent")):
            name = getattr(parameterization, "name", type(parameterization).__name__)
            raise ConfigError(
                f"loss 'latent_anchor' needs a parameterization with a latent (vqgan, stylegan2); this run's is '{name}'"
            )

    def forward(self, inputs) -> torch.Tensor:
        parameterization = self.ctx.parameterization
        if inputs.step < 0:
            return inputs.image.new_zeros(())
        difference = (parameterization.latent() - parameterization.start_latent).pow(2)
        return difference.sum() if self.options.reduction == "sum" else difference.mean()
