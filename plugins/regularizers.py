"""Regularisers: losses on the image alone, no target or model."""

from __future__ import annotations

from dataclasses import dataclass

import kornia

import pixengine
from pixengine import LossOptions, option


@dataclass
class TotalVariationOptions(LossOptions):
    norm: str = option("l1", help="l1 keeps edges (total variation); l2 smooths everything", choices=["l1", "l2"])


class TotalVariation(pixengine.Loss):
    """Smoothness: the mean difference between neighbouring pixels."""

    name = "tv"
    Options = TotalVariationOptions

    def forward(self, inputs):
        image = inputs.image
        if self.options.norm == "l1":
            # kornia's "mean" averages |dx| and |dy| over their positions and adds them (per image
            # and channel), so the value does not grow with the resolution.
            return kornia.losses.total_variation(image, reduction="mean").mean()
        # kornia has no squared variant; this mirrors its "mean" reduction with squares.
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        return dx.pow(2).mean() + dy.pow(2).mean()


@pixengine.hookimpl
def register_losses(register):
    register(TotalVariation)
