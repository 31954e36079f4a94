"""Helpers for the strokes tests: random scenes, and a dense reference renderer.

The reference is written independently of the box-limited renderer and follows the
definitions directly: for every path it measures every pixel's distance to every polyline
segment, decides inside/outside of filled paths by a brute-force crossing count, and
composites full-canvas layers one by one with "over". It is slow (all pixels x all segments
x all paths) but plainly correct, which is what the fast renderer is compared against.
"""

from __future__ import annotations

import torch

from pixengine_plugins.strokes.bezier import Curves, close_paths, collapse_unused


def reference_render(vertices, counts, closed, widths, colors, width, height, background, softness=1.25):
    """(1, 3, H, W): the same image as ``raster.render``, computed densely."""
    dtype = vertices.dtype
    r = softness / 2

    def profile(x):  # smoothstep from 0 at -r to 1 at +r
        t = ((x + r) / (2 * r)).clamp(0, 1)
        return t * t * (3 - 2 * t)

    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=dtype) + 0.5, torch.arange(width, dtype=dtype) + 0.5, indexing="ij"
    )
    px, py = xs[..., None], ys[..., None]
    if background.dim() == 1:
        image = background.to(dtype).view(3, 1, 1).expand(3, height, width)
    else:
        image = background.to(dtype).reshape(3, height, width)
    for i in range(vertices.shape[0]):
        v = vertices[i, : int(counts[i])]
        a, b = v[:-1], v[1:]
        dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
        t = (((px - a[:, 0]) * dx + (py - a[:, 1]) * dy) / (dx * dx + dy * dy + 1e-8)).clamp(0, 1)
        ex, ey = px - a[:, 0] - t * dx, py - a[:, 1] - t * dy
        distance = torch.sqrt(ex * ex + ey * ey + 1e-8).amin(dim=-1)
        if closed[i]:
            crosses = (a[:, 1] <= py) != (b[:, 1] <= py)
            x_at = a[:, 0] + (py - a[:, 1]) * dx / torch.where(dy == 0, torch.ones_like(dy), dy)
            direction = torch.where(dy > 0, 1, -1)
            winding = ((crosses & (px < x_at)).long() * direction).sum(-1)
            coverage = profile(torch.where(winding != 0, distance, -distance))
        else:
            w = widths[i].clamp(min=0)
            coverage = profile(w / 2 - distance) - profile(-w / 2 - distance)
        alpha = colors[i, 3] * coverage
        image = colors[i, :3, None, None] * alpha + (1 - alpha) * image
    return image.unsqueeze(0)


def random_curves(
    n_strokes: int,
    n_shapes: int,
    width: int,
    height: int,
    *,
    dtype=torch.float64,
    spread: float = 0.3,
    max_segments: int = 3,
    widths: tuple[float, float] = (0.5, 6.0),
    generator: torch.Generator | None = None,
) -> Curves:
    """Random open strokes (random walks of control points) and closed blobs, shapes first."""
    g = generator
    size = torch.tensor([float(width), float(height)], dtype=dtype)
    parts = []
    if n_shapes:
        segments = 3
        centre = torch.rand(n_shapes, 1, 2, generator=g, dtype=dtype) * size
        points = centre + (torch.rand(n_shapes, 3 * segments, 2, generator=g, dtype=dtype) - 0.5) * size * spread * 2
        parts.append(
            Curves(
                points=close_paths(points),
                segments=torch.full((n_shapes,), segments),
                closed=torch.ones(n_shapes, dtype=torch.bool),
                widths=torch.zeros(n_shapes, dtype=dtype),
                colors=torch.rand(n_shapes, 4, generator=g, dtype=dtype),
            )
        )
    if n_strokes:
        start = torch.rand(n_strokes, 1, 2, generator=g, dtype=dtype) * size
        steps = (torch.rand(n_strokes, 3 * max_segments, 2, generator=g, dtype=dtype) - 0.5) * spread * size
        segments = torch.randint(1, max_segments + 1, (n_strokes,), generator=g)
        lo, hi = widths
        parts.append(
            Curves(
                points=collapse_unused(torch.cat([start, start + steps.cumsum(1)], dim=1), segments),
                segments=segments,
                closed=torch.zeros(n_strokes, dtype=torch.bool),
                widths=lo + (hi - lo) * torch.rand(n_strokes, generator=g, dtype=dtype),
                colors=torch.rand(n_strokes, 4, generator=g, dtype=dtype),
            )
        )
    return Curves.concat(parts)

