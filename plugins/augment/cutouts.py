"""Cutouts: the image as a batch of square views, some zoomed in, some showing all of it.

Zoomed cuts are squares inside the image whose side is drawn as
``min_scale + (1 - min_scale) * u ** cut_pow`` of the shorter side (u uniform; cut_pow > 1
favours small cuts, as in VQGAN+CLIP). Wide cuts are squares larger than the image, which sits
inside them at a random place with its surroundings filled by a padding mode drawn once per
call (zeros, border or reflection), as in pixray. Every view is resized to ``size`` by kornia's
``crop_and_resize``; the boxes and padding mode are the replayable parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from kornia.geometry.transform import crop_and_resize

import pixengine
from pixengine import option

PADDING = ["zeros", "border", "reflection"]
DEFAULT_SIZE = 224


@dataclass
class CutoutOptions:
    count: int = option(8, help="views per image (the batch the losses see)", min=1)
    size: Optional[int] = option(
        None, help="side of each view in pixels; null: the largest input size of the run's models (224 without one)", min=8
    )
    zoom_fraction: float = option(0.6, help="fraction of the views that are zoomed-in cuts; the rest are wide", min=0, max=1)
    cut_pow: float = option(1.0, help="exponent of the zoomed cuts' size draw (above 1: smaller cuts)", min=0)
    min_scale: float = option(0.25, help="smallest zoomed cut, as a fraction of the image's shorter side", min=0.01, max=1)
    wide_margin: float = option(0.2, help="largest margin around the image in wide cuts, as a fraction of its longer side", min=0)
    padding: list[str] = option(list(PADDING), help="padding modes wide cuts draw from, one per step", choices=None)

    def __post_init__(self):
        bad = [mode for mode in self.padding if mode not in PADDING]
        if bad or not self.padding:
            raise ValueError(f"padding must list some of {', '.join(PADDING)}; got {list(self.padding)}")


class Cutouts(pixengine.Augmentation):
    """Square views of the image: about 60% zoomed-in cuts and 40% wide ones (pixray's mix)."""

    name = "cutouts"
    geometric = True
    Options = CutoutOptions

    @classmethod
    def memory_estimate(cls, options, width: int, height: int) -> int:
        # The views (3 float32 channels each) and as many activations per view in the
        # losses that see them, with gradients.
        side = options.size or 224
        return options.count * 3 * side * side * 4 * 32

    def __init__(self, options: CutoutOptions, ctx):
        super().__init__(options, ctx)
        self.size = options.size or model_input_side(ctx)

    def sample(self, x: torch.Tensor) -> dict:
        batch, _, height, width = x.shape
        o = self.options
        zoomed = round(o.count * o.zoom_fraction)
        wide = o.count - zoomed
        n = batch * o.count
        short, long = min(height, width), max(height, width)
        # One draw of everything per view, in a fixed order, from torch's (seeded) generator.
        u = torch.rand(n, 3)
        side = torch.empty(n)
        x0 = torch.empty(n)
        y0 = torch.empty(n)
        is_zoomed = torch.tensor(([True] * zoomed + [False] * wide) * batch)
        z = is_zoomed
        side[z] = short * (o.min_scale + (1 - o.min_scale) * u[z, 0] ** o.cut_pow)
        side[z] = side[z].clamp(min=2.0)
        x0[z] = u[z, 1] * (width - side[z])
        y0[z] = u[z, 2] * (height - side[z])
        w = ~is_zoomed
        side[w] = long * (1 + o.wide_margin * u[w, 0])
        x0[w] = (width - side[w]) * u[w, 1]  # the image stays wholly inside the view
        y0[w] = (height - side[w]) * u[w, 2]
        x1 = x0 + side - 1
        y1 = y0 + side - 1
        boxes = torch.stack(
            [torch.stack([x0, y0], -1), torch.stack([x1, y0], -1), torch.stack([x1, y1], -1), torch.stack([x0, y1], -1)], 1
        )
        mode = o.padding[int(torch.randint(len(o.padding), ()))]
        return {"boxes": boxes.to(device=x.device, dtype=x.dtype), "padding": mode}

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        count = self.options.count
        images = x.repeat_interleave(count, dim=0) if x.shape[0] > 1 else x.expand(count, -1, -1, -1)
        return crop_and_resize(images, params["boxes"], (self.size, self.size), padding_mode=params["padding"])


def model_input_side(ctx) -> int:
    """The largest side any model of the run expects (a model's ``input_size``: (h, w))."""
    sides = [max(getattr(model, "input_size")) for model in (ctx.models or {}).values() if hasattr(model, "input_size")]
    return max(sides) if sides else DEFAULT_SIZE
