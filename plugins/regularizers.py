"""Regularisers: losses on the image alone, no target or model (smoothness, a colour palette,
saturation, symmetry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import kornia
import torch
import torch.nn.functional as F
from PIL import ImageColor

import pixengine
from pixengine import LossOptions, option
from pixengine.errors import ConfigError


@dataclass
class TotalVariationOptions(LossOptions):
    norm: str = option(
        "l1",
        help="l1 keeps edges (anisotropic total variation); isotropic: the gradient's length (Rudin-Osher-Fatemi), "
        "no preference for horizontal and vertical edges; l2 smooths everything",
        choices=["l1", "isotropic", "l2"],
    )


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
        # kornia has neither the squared nor the isotropic variant; these mirror its "mean" reduction.
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        if self.options.norm == "isotropic":
            return (dx[..., :-1, :].pow(2) + dy[..., :, :-1].pow(2) + 1e-8).sqrt().mean()
        return dx.pow(2).mean() + dy.pow(2).mean()


# -- palette -----------------------------------------------------------------------------------


#: Colours on a ramp ("black->white") when it gives no count.
RAMP_COLOURS = 5


def parse_colours(colours: list[str]) -> torch.Tensor:
    """(K, 3) RGB in [0, 1] from CSS colour strings ("#ff8800", "red", "rgb(0, 128, 255)") and
    ramps as pixray writes them: "black->red->white\\7" is 7 colours evenly spaced along the
    path through those stops (5 when the count is left out)."""
    values = []
    for text in map(str, colours):
        if "->" in text:
            values += _ramp(text)
        else:
            values.append(_colour(text, text))
    return torch.tensor(values, dtype=torch.float32) / 255.0


def _colour(name: str, entry: str) -> tuple[float, float, float]:
    try:
        return tuple(float(c) for c in ImageColor.getrgb(name.strip())[:3])
    except ValueError:
        where = f"'{name}'" if name == entry else f"'{name}' in '{entry}'"
        raise ConfigError(
            f"{where} is not a colour; use a name (red), #rrggbb, rgb(r, g, b) or a ramp such as black->white\\5",
            key="colors",
        ) from None


def _ramp(entry: str) -> list[tuple[float, ...]]:
    path, _, count_text = entry.partition("\\")
    try:
        count = int(count_text) if count_text else RAMP_COLOURS
    except ValueError:
        count = 0
    if count < 2:
        raise ConfigError(f"'{entry}': the count after '\\' must be a whole number of at least 2", key="colors")
    stops = torch.tensor([_colour(name, entry) for name in path.split("->")])
    # Evenly spaced positions along the stops, each between two neighbouring stops.
    position = torch.linspace(0, len(stops) - 1, count)
    low = position.floor().long().clamp(max=len(stops) - 2)
    fraction = (position - low).unsqueeze(1)
    return [tuple(row) for row in ((1 - fraction) * stops[low] + fraction * stops[low + 1]).tolist()]


def image_palette(image: torch.Tensor, count: int) -> torch.Tensor:
    """(count, 3): the main colours of an image, by k-means (kornia) on its pixels."""
    pixels = image.permute(0, 2, 3, 1).reshape(-1, 3)
    # Deterministic starting centres: pixels spread over the brightness order.
    order = pixels.sum(dim=1).argsort()
    start = pixels[order[torch.linspace(0, len(order) - 1, count).long()]]
    kmeans = kornia.contrib.KMeans(count, start.clone(), tolerance=1e-6, max_iterations=50)
    kmeans.fit(pixels)
    return kmeans.cluster_centers


def swatch(colours: torch.Tensor, height: int = 64, width: int = 32) -> torch.Tensor:
    """(1, 3, height, width * K): the colours side by side, for contact sheets."""
    bars = colours.view(1, -1, 3, 1, 1).expand(1, -1, 3, height, width)
    return bars.permute(0, 2, 3, 1, 4).reshape(1, 3, height, -1)


@dataclass
class PaletteOptions(LossOptions):
    colors: list[str] = option(
        [], help="the palette: colour names, #rrggbb or rgb(r, g, b) strings, or ramps such as 'black->red->white\\7' (7 colours)"
    )
    image: Optional[str] = option(
        None, help="take the palette from this image instead (its main colours, by k-means)", file="image"
    )
    count: int = option(6, help="colours taken from 'image'", min=1, max=64)


class Palette(pixengine.Loss):
    """Pull every pixel towards its nearest palette colour (squared RGB distance)."""

    name = "palette"
    Options = PaletteOptions

    def __init__(self, options: PaletteOptions, ctx):
        super().__init__(options, ctx)
        if bool(options.colors) == bool(options.image):
            raise ConfigError("give either 'colors' (a list) or 'image' (a file to take colours from)", key="colors")
        self.source = None
        if options.image:
            self.source = ctx.load_image(options.image, option="image")
            colours = image_palette(self.source, options.count)
        else:
            colours = parse_colours(options.colors)
        self.register_buffer("colours", colours.to(ctx.device), persistent=False)

    def references(self):
        found = {"palette": swatch(self.colours)}
        if self.source is not None:
            found["palette image"] = self.source
        return found

    def forward(self, inputs):
        pixels = inputs.image.permute(0, 2, 3, 1).reshape(-1, 3)
        return torch.cdist(pixels, self.colours).pow(2).min(dim=1).values.mean()


# -- saturation --------------------------------------------------------------------------------


@dataclass
class SaturationOptions(LossOptions):
    target: float = option(1.0, help="the saturation pixels are pulled towards: 1 vivid, 0 grey", min=0, max=1)


class Saturation(pixengine.Loss):
    """Mean squared distance of each pixel's HSV saturation to a target (vivid by default)."""

    name = "saturation"
    Options = SaturationOptions

    def forward(self, inputs):
        saturation = kornia.color.rgb_to_hsv(inputs.image)[:, 1]
        return (saturation - self.options.target).pow(2).mean()


# -- symmetry ----------------------------------------------------------------------------------

MIRRORS = {
    "left_right": lambda x: x.flip(-1),
    "top_bottom": lambda x: x.flip(-2),
    "rotation": lambda x: x.flip(-1).flip(-2),
}


@dataclass
class SymmetryOptions(LossOptions):
    axis: str = option(
        "left_right",
        help="left_right: mirror about the vertical centre line; top_bottom: about the horizontal one; "
        "both: the two mirrors; rotation: unchanged by a half turn",
        choices=["left_right", "top_bottom", "both", "rotation"],
    )


class Symmetry(pixengine.Loss):
    """Mean squared difference between the image and its mirror image."""

    name = "symmetry"
    Options = SymmetryOptions

    def forward(self, inputs):
        image = inputs.image
        axes = ["left_right", "top_bottom"] if self.options.axis == "both" else [self.options.axis]
        return sum(F.mse_loss(image, MIRRORS[a](image)) for a in axes) / len(axes)


@pixengine.hookimpl
def register_losses(register):
    register(TotalVariation)
    register(Palette)
    register(Saturation)
    register(Symmetry)
