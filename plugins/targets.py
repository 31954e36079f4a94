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
    image: str = option(help="the target image file", file="image")
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
    image: str = option(help="the image whose colour distribution to match", file="image")
    statistics: str = option(
        "covariance",
        help="moments: per-channel mean and std; covariance: the mean and full covariance; histogram: the whole "
        "distribution (sliced: sorted projections on fixed colour directions)",
        choices=["moments", "covariance", "histogram"],
    )
    colorspace: str = option("lab", help="colour space the statistics are taken in", choices=["rgb", "lab"])
    fit: str = option("cover", help="how the image is fitted to the canvas before its statistics are taken", choices=list(FITS))
    projections: int = option(16, help="histogram: colour directions the distributions are compared along", min=1, max=256)


def colour_statistics(x: torch.Tensor, full: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C,) and covariance (C, C) or std (C,) of the pixels of (B, C, H, W)."""
    pixels = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1)
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    if full:
        return mean, centred @ centred.T / pixels.shape[1]
    return mean, centred.pow(2).mean(dim=1).add(1e-8).sqrt()


def colour_directions(count: int, channels: int = 3) -> torch.Tensor:
    """(count, C) unit vectors: the channel axes, the cube's diagonals, then fixed pseudo-random
    directions (a private generator, so the run's random stream is untouched)."""
    fixed = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]]
    extra = torch.randn(max(0, count - len(fixed)), channels, generator=torch.Generator().manual_seed(0))
    directions = torch.cat([torch.tensor(fixed, dtype=torch.float32), extra])[:count]
    return directions / directions.norm(dim=1, keepdim=True)


def sorted_projections(x: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """(N, D): the pixels of (B, C, H, W) projected on each direction, sorted per direction."""
    pixels = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
    return (pixels @ directions.T).sort(dim=0).values


def quantiles(sorted_values: torch.Tensor, count: int) -> torch.Tensor:
    """(count, D): the distribution of (M, D) sorted values resampled at ``count`` evenly spaced
    quantiles, so images of different pixel counts can be compared element by element."""
    m = sorted_values.shape[0]
    position = (torch.arange(count, dtype=torch.float32, device=sorted_values.device) + 0.5) / count * m - 0.5
    position = position.clamp(0, m - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=m - 1)
    frac = (position - low).unsqueeze(1)
    return sorted_values[low] * (1 - frac) + sorted_values[high] * frac


class ColorStats(_TargetLoss):
    """Match the colour distribution of an image: its moments, its mean and covariance, or its
    whole histogram.

    The histogram mode compares sorted projections (sliced Wasserstein distance) rather than a
    soft binned histogram: sorting gives the exact 1-D optimal transport along each colour
    direction, every pixel gets a gradient towards where it belongs in the target's distribution
    (a binned histogram's gradient vanishes for pixels far from a bin), and there is no bin width
    to tune.
    """

    name = "color_stats"
    Options = ColorStatsOptions

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        if options.statistics == "histogram":
            self.register_buffer("directions", colour_directions(options.projections).to(ctx.device), persistent=False)
            self.target_sorted = sorted_projections(self._space(self.target), self.directions)
            self._quantiles: dict[int, torch.Tensor] = {}
        else:
            self.target_stats = colour_statistics(self._space(self.target), options.statistics == "covariance")

    def _space(self, x: torch.Tensor) -> torch.Tensor:
        if self.options.colorspace == "lab":
            # Scale L*a*b* to roughly unit range so the weight means the same in both spaces.
            return kornia.color.rgb_to_lab(x) / 100.0
        return x

    def forward(self, inputs):
        if self.options.statistics == "histogram":
            values = sorted_projections(self._space(inputs.image), self.directions)
            count = values.shape[0]
            if count not in self._quantiles:
                self._quantiles[count] = quantiles(self.target_sorted, count)
            return F.mse_loss(values, self._quantiles[count])
        mean, spread = colour_statistics(self._space(inputs.image), self.options.statistics == "covariance")
        target_mean, target_spread = self.target_stats
        return F.mse_loss(mean, target_mean) + F.mse_loss(spread, target_spread)


@pixengine.hookimpl
def register_losses(register):
    register(TargetImage)
    register(ColorStats)
