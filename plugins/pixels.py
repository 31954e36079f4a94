"""The ``pixels`` parameterization: every pixel is a parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

import pixengine
from pixengine import option
from pixengine.color import decorrelated_to_rgb, logit, rgb_to_decorrelated


@dataclass
class PixelOptions:
    init_image: Optional[str] = option(None, help="image file to start from (else noise around grey)", file="image")
    init_noise: float = option(0.5, help="standard deviation of the starting noise, in logit units", min=0)
    colorspace: str = option(
        "rgb", help="optimise RGB directly, or a decorrelated colour basis (cleaner colours)", choices=["rgb", "decorrelated"]
    )
    pixel_size: int = option(1, help="side of each optimised block in output pixels (pixel art above 1)", min=1)


class Pixels(pixengine.Parameterization):
    """Raw pixels, bounded to [0, 1] by a sigmoid.

    The parameters are logits of the image (in RGB or a decorrelated colour basis) at
    1/pixel_size of the output resolution; the image is upsampled with nearest neighbours, so
    pixel_size > 1 gives blocky pixel art. Starting from an image reproduces it exactly (up to
    8-bit rounding) before the first step.
    """

    name = "pixels"
    Options = PixelOptions
    supports_resize = True

    def __init__(self, options: PixelOptions, ctx):
        super().__init__(options, ctx)
        w, h = self._grid(ctx.width, ctx.height)
        self._start = ctx.load_image(options.init_image, option="init_image") if options.init_image else None
        if self._start is not None:
            grid = F.interpolate(self._start, size=(h, w), mode="area") if (w, h) != (ctx.width, ctx.height) else self._start
            logits = self._to_logits(grid)
        else:
            logits = torch.zeros(1, 3, h, w, device=ctx.device)
        if options.init_noise:
            logits = logits + options.init_noise * torch.randn(logits.shape, device=ctx.device)
        self.logits = torch.nn.Parameter(logits)

    def references(self):
        return {"init image": self._start} if self._start is not None else {}

    def _grid(self, width: int, height: int) -> tuple[int, int]:
        size = self.options.pixel_size
        return max(1, -(-width // size)), max(1, -(-height // size))

    def _to_logits(self, image: torch.Tensor) -> torch.Tensor:
        logits = logit(image)
        return rgb_to_decorrelated(logits) if self.options.colorspace == "decorrelated" else logits

    def forward(self) -> torch.Tensor:
        x = self.logits
        if self.options.colorspace == "decorrelated":
            x = decorrelated_to_rgb(x)
        image = torch.sigmoid(x)
        if self.options.pixel_size > 1:
            image = F.interpolate(image, scale_factor=self.options.pixel_size, mode="nearest")
        return image[:, :, : self.ctx.height, : self.ctx.width]

    def resize(self, width: int, height: int) -> None:
        w, h = self._grid(width, height)
        with torch.no_grad():
            grown = F.interpolate(self.logits, size=(h, w), mode="bilinear", align_corners=False)
        self.logits = torch.nn.Parameter(grown)


@pixengine.hookimpl
def register_parameterizations(register):
    register(Pixels)
