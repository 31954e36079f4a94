"""The optional diffvg backend: renders the same curves with ``pydiffvg`` when it imports.

diffvg (BachiLi/diffvg) is not on any package registry and does not build on Python 3.11, so
it is never required; ``backend: auto`` uses it only where a user has built it themselves.
Its anti-aliasing (box filter, 2x2 jittered samples per pixel) differs slightly from the
torch renderer's, so the two give close but not identical images.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

import torch

from .bezier import Curves

#: Samples per pixel along each axis (CLIPDraw uses 2 x 2).
SAMPLES = 2


@lru_cache(maxsize=1)
def load():
    """The pydiffvg module, or None when it cannot be imported (for any reason: a broken
    build raises more than ImportError)."""
    try:
        return importlib.import_module("pydiffvg")
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return None


def available() -> bool:
    return load() is not None


def render_curves(curves: Curves, width: int, height: int, background: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Draw ``curves`` over ``background`` (RGB (3,) or (3, H, W)); returns (1, 3, H, W)."""
    pydiffvg = load()
    if pydiffvg is None:
        raise RuntimeError("pydiffvg is not installed")
    device = curves.points.device
    pydiffvg.set_device(device)
    shapes, groups = [], []
    for i in range(len(curves)):
        segments = int(curves.segments[i])
        closed = bool(curves.closed[i])
        points = curves.points[i, : 3 * segments + 1]
        if closed:
            points = points[:-1]  # diffvg closes the path back to its first point itself
        shapes.append(
            pydiffvg.Path(
                num_control_points=torch.full((segments,), 2, dtype=torch.int32),
                points=points.float().contiguous(),
                is_closed=closed,
                stroke_width=curves.widths[i].float(),
            )
        )
        color = curves.colors[i].float()
        groups.append(
            pydiffvg.ShapeGroup(
                shape_ids=torch.tensor([i]),
                fill_color=color if closed else None,
                stroke_color=None if closed else color,
                use_even_odd_rule=False,  # nonzero, as the torch renderer and the SVG export
            )
        )
    bg = background.to(device, torch.float32)
    bg = bg.view(3, 1, 1).expand(3, height, width) if bg.dim() == 1 else bg.reshape(3, height, width)
    # An opaque background image makes diffvg composite onto it: the output is then opaque.
    backdrop = torch.cat([bg, torch.ones_like(bg[:1])]).permute(1, 2, 0).contiguous()
    if not shapes:
        return bg.unsqueeze(0)
    scene = pydiffvg.RenderFunction.serialize_scene(width, height, shapes, groups)
    image = pydiffvg.RenderFunction.apply(width, height, SAMPLES, SAMPLES, seed, backdrop, *scene)
    return image[..., :3].permute(2, 0, 1).unsqueeze(0).to(curves.points.dtype)
