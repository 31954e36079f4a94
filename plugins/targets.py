"""Losses that pull the image towards a target image: its pixels, or its colour statistics.
They need no model, so a run can be meaningful on any machine."""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

import pixengine
from pixengine import LossOptions, option
from pixengine.images import FITS


class _TargetLoss(pixengine.Loss):
    """Holds a target image and hands it out resized to whatever size the run is at."""

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.target = ctx.load_image(options.image, fit=options.fit, option="image")
        self._sized: dict[tuple[int, int], torch.Tensor] = {}

    def target_like(self, image: torch.Tensor) -> torch.Tensor:
        size = tuple(image.shape[-2:])
        if size not in self._sized:
            self._sized[size] = F.interpolate(self.target, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        return self._sized[size]

    def references(self):
        return {self.name: self.target}


@dataclass
class TargetImageOptions(LossOptions):
    image: str = option(help="the target image file")
    metric: str = option("mse", help="distance per pixel", choices=["mse", "l1"])
    blur: float = option(0.0, help="compare Gaussian-blurred images (sigma in pixels; 0: off), to match layout not detail", min=0)
    fit: str = option("cover", help="how the target is fitted to the image size", choices=list(FITS))


class TargetImage(_TargetLoss):
    """Pixel distance to a target image (optionally of blurred copies)."""

    name = "target_image"
    Options = TargetImageOptions

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        sigma = self.options.blur
        if not sigma:
            return x
        k = 2 * int(3 * sigma) + 1
        return kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")

    def forward(self, inputs):
        image = self._blur(inputs.image)
        target = self._blur(self.target_like(inputs.image)).expand_as(image)
        if self.options.metric == "l1":
            return F.l1_loss(image, target)
        return F.mse_loss(image, target)


@dataclass
class ColorStatsOptions(LossOptions):
    image: str = option(help="the image whose colour distribution to match")
    statistics: str = option(
        "covariance", help="match the per-channel mean and std, or the mean and full covariance", choices=["moments", "covariance"]
    )
    colorspace: str = option("lab", help="colour space the statistics are taken in", choices=["rgb", "lab"])
    fit: str = option("cover", choices=list(FITS))


def colour_statistics(x: torch.Tensor, full: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C,) and covariance (C, C) or std (C,) of the pixels of (B, C, H, W)."""
    pixels = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1)
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    if full:
        return mean, centred @ centred.T / pixels.shape[1]
    return mean, centred.pow(2).mean(dim=1).add(1e-8).sqrt()


class ColorStats(_TargetLoss):
    """Match the colour distribution (mean and covariance, or moments) of an image."""

    name = "color_stats"
    Options = ColorStatsOptions

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.target_stats = colour_statistics(self._space(self.target), options.statistics == "covariance")

    def _space(self, x: torch.Tensor) -> torch.Tensor:
        if self.options.colorspace == "lab":
            # Scale L*a*b* to roughly unit range so the weight means the same in both spaces.
            return kornia.color.rgb_to_lab(x) / 100.0
        return x

    def forward(self, inputs):
        mean, spread = colour_statistics(self._space(inputs.image), self.options.statistics == "covariance")
        target_mean, target_spread = self.target_stats
        return F.mse_loss(mean, target_mean) + F.mse_loss(spread, target_spread)


@pixengine.hookimpl
def register_losses(register):
    register(TargetImage)
    register(ColorStats)
