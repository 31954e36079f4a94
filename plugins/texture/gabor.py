"""The ``gabor`` feature model: a fixed bank of Gabor filters (several orientations, several
scales by an image pyramid) plus the colour channels. No weights.

Summarised by the per-filter mean and standard deviation of the response magnitudes, this is
Manjunath and Ma's texture descriptor (IEEE PAMI 18(8), 1996). kornia has no Gabor kernels, so
the bank is built here from the textbook formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

import pixengine
from pixengine import option


def gabor_bank(frequency: float, orientations: int, bandwidth: float = 1.0, aspect: float = 1.0) -> torch.Tensor:
    """(2 * orientations, 1, k, k): the real (even) then imaginary (odd) parts of complex Gabor
    kernels tuned to ``frequency`` (cycles per pixel) and orientations 0, 180/n, ... degrees.

    Orientation θ is the direction of the wave vector, measured from the image's x axis (columns,
    rightwards) towards its y axis (rows, downwards): the kernel at θ responds to stripes whose
    intensity changes along θ. ``bandwidth`` is the frequency bandwidth in octaves, which sets
    the Gaussian envelope's σ; ``aspect`` < 1 elongates it along the stripes.
    """
    sigma = math.sqrt(math.log(2) / 2) / (math.pi * frequency) * (2**bandwidth + 1) / (2**bandwidth - 1)
    half = max(1, math.ceil(3 * sigma))
    coords = torch.arange(-half, half + 1, dtype=torch.float64)
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    even, odd = [], []
    for i in range(orientations):
        theta = math.pi * i / orientations
        along = x * math.cos(theta) + y * math.sin(theta)
        across = -x * math.sin(theta) + y * math.cos(theta)
        envelope = torch.exp(-(along**2 + (aspect * across) ** 2) / (2 * sigma**2))
        envelope = envelope / envelope.sum()
        real = envelope * torch.cos(2 * math.pi * frequency * along)
        # Remove the real part's DC response so flat regions respond with zero.
        real = real - envelope * (real.sum() / envelope.sum())
        even.append(real)
        odd.append(envelope * torch.sin(2 * math.pi * frequency * along))
    return torch.stack(even + odd).unsqueeze(1).float()


@dataclass
class GaborOptions:
    orientations: int = option(6, help="orientations between 0 and 180 degrees", min=1)
    scales: int = option(3, help="scales, each an octave coarser (filters applied to an image pyramid)", min=1, max=6)
    frequency: float = option(0.25, help="frequency of the finest scale, in cycles per pixel", min=0.01, max=0.5)
    bandwidth: float = option(1.0, help="frequency bandwidth in octaves (sets the envelope's width)", min=0.3, max=3.0)
    opponent: bool = option(
        True, help="also filter the two colour-opponent channels (red-green, blue-yellow), so colour has texture too"
    )


class Gabor(pixengine.Model):
    """A fixed Gabor filter bank over orientations and scales, on luminance and colour; no weights.

    Layers scale0, scale1, ...: the response magnitudes, one channel per orientation and per
    input channel (luminance, then with ``opponent`` red-green and blue-yellow); the RGB colour channels (layer color), and every
    scale's magnitudes and blurred colours upsampled to full resolution (layer joint, whose Gram
    matrix captures cross-scale and colour correlations)."""

    name = "gabor"
    Options = GaborOptions

    def __init__(self, options: GaborOptions, ctx):
        super().__init__(options, ctx)
        self.register_buffer("bank", gabor_bank(options.frequency, options.orientations, options.bandwidth), persistent=False)
        self.layer_names = [f"scale{s}" for s in range(options.scales)] + ["color", "joint"]
        self.default_layers = [f"scale{s}" for s in range(options.scales)]
        self.orientations = options.orientations

    def features(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        out = {}
        if "color" in wanted:
            out["color"] = images
        scales = [int(name[5:]) for name in wanted if name.startswith("scale")]
        if "joint" in wanted:
            scales = list(range(self.options.scales))
        if not scales:
            return out
        half = self.bank.shape[-1] // 2
        smallest = min(images.shape[-2:]) / 2 ** max(scales)
        if smallest <= half:
            raise ValueError(
                f"a {images.shape[-1]}x{images.shape[-2]} image is too small for Gabor layer scale{max(scales)}: "
                f"at that scale it is {smallest:.0f} pixels across, the kernel needs more than {half}"
            )
        joint = "joint" in wanted
        colour, parts = images, []
        size = images.shape[-2:]
        for s in range(max(scales) + 1):
            if s:
                colour = kornia.geometry.transform.pyrdown(colour)
            if s in scales:
                out[f"scale{s}"] = self.magnitudes(self.channels(colour))
            if joint:
                # Every scale's magnitudes and blurred colours at full resolution: the Gram
                # matrix of these holds the correlations across scales, between texture energy
                # and colour, and of colour with its own neighbourhood (colour regions rather
                # than colour noise), which per-scale statistics miss (Portilla and Simoncelli's
                # lesson).
                level = torch.cat([out[f"scale{s}"], colour], dim=1)
                parts.append(level if s == 0 else F.interpolate(level, size=size, mode="bilinear", align_corners=False))
        if joint:
            out["joint"] = torch.cat(parts, dim=1)
        return {name: out[name] for name in wanted}

    def channels(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 1 or 3, H, W): luminance, and with ``opponent`` the red-green and blue-yellow
        opponent channels (the colour axes of early vision)."""
        gray = kornia.color.rgb_to_grayscale(rgb)
        if not self.options.opponent:
            return gray
        r, g, b = rgb.unbind(dim=1)
        return torch.cat([gray, (r - g).unsqueeze(1), (b - (r + g) / 2).unsqueeze(1)], dim=1)

    def magnitudes(self, channels: torch.Tensor) -> torch.Tensor:
        """(B, C * orientations, H, W) magnitudes of the complex responses of each channel of a
        (B, C, H, W) image, channel-major."""
        b, c, h, w = channels.shape
        half = self.bank.shape[-1] // 2
        padded = F.pad(channels.reshape(b * c, 1, h, w), (half,) * 4, mode="reflect")
        real, imag = F.conv2d(padded, self.bank).split(self.orientations, dim=1)
        return (real.pow(2) + imag.pow(2) + 1e-8).sqrt().reshape(b, c * self.orientations, h, w)
