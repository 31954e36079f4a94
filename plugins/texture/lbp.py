"""The ``lbp`` feature model: a differentiable, soft version of rotation-invariant uniform local
binary patterns (Ojala, Pietikäinen and Mäenpää, IEEE PAMI 24(7), 2002). No weights.

The hard pattern of a pixel thresholds its P neighbours on a circle of radius R against the
centre: bit p = [g_p >= g_c]. Rotation-invariant *uniform* patterns (at most two 0/1 changes
around the circle) are labelled by their number of ones, 0..P; all others share label P+1.

The soft version makes every bit a probability, s_p = sigmoid((g_p - g_c) / softness), and
gives each pixel the probability of each label when the bits are independent: a uniform pattern
u has probability prod_p s_p^u_p (1 - s_p)^(1 - u_p), label k sums its uniform patterns with k
ones, label P+1 takes the rest. That is the expected one-hot label, so the spatial mean is the
expected histogram; it is differentiable, and as the softness goes to zero the bits become hard
and it becomes exactly the LBP histogram (scikit-image's ``method='uniform'``). No library
offers a differentiable LBP, hence this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

import pixengine
from pixengine import option


def uniform_patterns(points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every uniform pattern of ``points`` bits as rows of a (K, P) 0/1 matrix, and each one's
    label (its number of ones). K = P (P - 1) + 2: all zeros, all ones, and each run of k ones
    (0 < k < P) at each of P starting positions."""
    rows, labels = [[0] * points, [1] * points], [0, points]
    for ones in range(1, points):
        for start in range(points):
            rows.append([1 if (p - start) % points < ones else 0 for p in range(points)])
            labels.append(ones)
    return torch.tensor(rows, dtype=torch.float32), torch.tensor(labels)


def circle_offsets(points: int, radius: float) -> list[tuple[float, float]]:
    """(row, column) offsets of the neighbours, counter-clockwise from the right-hand one."""
    return [(-radius * math.sin(2 * math.pi * p / points), radius * math.cos(2 * math.pi * p / points)) for p in range(points)]


def sample_neighbours(gray: torch.Tensor, points: int, radius: float) -> torch.Tensor:
    """(B, P, H, W): the image bilinearly interpolated at each neighbour position, borders
    replicated."""
    pad = math.ceil(radius) + 1
    padded = F.pad(gray, (pad,) * 4, mode="replicate")
    h, w = gray.shape[-2:]
    out = []
    for dy, dx in circle_offsets(points, radius):
        # Round like the reference implementation, so exact axis points stay exact.
        dy, dx = round(dy, 5), round(dx, 5)
        y0, x0 = math.floor(dy), math.floor(dx)
        fy, fx = dy - y0, dx - x0
        value = 0
        for oy, wy in ((y0, 1 - fy), (y0 + 1, fy)):
            for ox, wx in ((x0, 1 - fx), (x0 + 1, fx)):
                if wy * wx == 0:
                    continue
                value = value + wy * wx * padded[..., pad + oy : pad + oy + h, pad + ox : pad + ox + w]
        out.append(value)
    return torch.cat(out, dim=1)


def soft_lbp(gray: torch.Tensor, points: int, radius: float, softness: float) -> torch.Tensor:
    """(B, P + 2, H, W): each pixel's probability of each rotation-invariant uniform LBP label."""
    patterns, labels = uniform_patterns(points)
    diff = (sample_neighbours(gray, points, radius) - gray) / softness
    # Log-probabilities of each bit being 1 or 0, stable for tiny softness. A pattern's
    # log-probability is sum_p u_p log s_p + (1 - u_p) log(1 - s_p): one 1x1 convolution.
    log_one, log_zero = F.logsigmoid(diff), F.logsigmoid(-diff)
    weight = patterns.to(gray)[:, :, None, None]
    probs = (F.conv2d(log_one - log_zero, weight) + log_zero.sum(dim=1, keepdim=True)).exp()
    # Sum the patterns of each label 0..P; label P+1 (non-uniform) takes what is left.
    to_label = F.one_hot(labels, points + 1).T.to(gray)[:, :, None, None]  # (P + 1, K, 1, 1)
    uniform = F.conv2d(probs, to_label)
    other = (1 - uniform.sum(dim=1, keepdim=True)).clamp(min=0)
    return torch.cat([uniform, other], dim=1)


@dataclass
class LBPOptions:
    points: int = option(8, help="neighbours per circle (P)", min=4, max=24)
    radii: list[float] = option([1.0, 2.0, 3.0], help="circle radii in pixels, one layer each (r1, r2, ...)", min=0.5)
    softness: float = option(
        0.03, help="temperature of the soft threshold, in intensity units (0-1); smaller is closer to hard LBP", min=1e-6
    )


class LBP(pixengine.Model):
    """Soft rotation-invariant uniform local binary patterns of the luminance; no weights.

    One layer per radius (r1, r2, ... by radius index), P + 2 channels holding each pixel's label
    probabilities; their spatial mean is the LBP histogram."""

    name = "lbp"
    Options = LBPOptions

    def __init__(self, options: LBPOptions, ctx):
        super().__init__(options, ctx)
        if not options.radii:
            raise pixengine.ConfigError("give at least one radius", key="radii")
        self.layer_names = [f"r{i + 1}" for i in range(len(options.radii))]
        self.default_layers = list(self.layer_names)

    def features(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        gray = kornia.color.rgb_to_grayscale(images)
        out = {}
        for name in layers:
            radius = self.options.radii[int(name[1:]) - 1]
            if min(gray.shape[-2:]) <= 2 * radius:
                raise ValueError(f"a {gray.shape[-1]}x{gray.shape[-2]} image is too small for LBP radius {radius}")
            out[name] = soft_lbp(gray, self.options.points, radius, self.options.softness)
        return out
