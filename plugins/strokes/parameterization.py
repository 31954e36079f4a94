"""The ``strokes`` parameterization: an image drawn by cubic Bézier strokes (CLIPDraw).

The parameters are the strokes' control points (in pixels), widths (in pixels) and RGBA
colours, plus optional closed filled shapes drawn under them. CLIPDraw's optimiser settings
carry over unchanged because the units are the same as its own: Adam with learning rates 1.0
for points, 0.1 for widths and 0.01 for colours, i.e. steps of about a pixel, a tenth of a
pixel and a hundredth of the colour range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from PIL import ImageColor

import pixengine
from pixengine import ConfigError, FileOption, option
from pixengine.images import resolve_path

from . import diffvg_backend
from .bezier import Curves, close_paths, collapse_unused
from .raster import render_curves
from .svg import to_svg

#: CLIPDraw's Adam learning rates (Frans et al., 2021) in its units: pixels and colour units.
POINTS_LR, WIDTHS_LR, COLORS_LR = 1.0, 0.1, 0.01


def parse_color(text: str) -> tuple[float, float, float] | None:
    """An RGB triple in [0, 1] from a colour name, #rrggbb or rgb(...); None if not a colour."""
    try:
        rgb = ImageColor.getrgb(text)
    except (ValueError, AttributeError):
        return None
    return tuple(c / 255 for c in rgb[:3])


@dataclass
class StrokesOptions:
    strokes: int = option(256, help="open stroked paths (CLIPDraw: 256)", min=0)
    segments: list[int] = option(
        [1, 3], help="cubic segments per stroke: [min, max] drawn at random per stroke (CLIPDraw: 1 to 3), or [n]", min=1
    )
    spread: float = option(
        0.1, help="each control point starts within +-spread/2 of the canvas size from the previous one (CLIPDraw: 0.1)", min=0
    )
    init_width: float = option(1.0, help="starting stroke width in pixels (CLIPDraw: 1)", min=0)
    min_width: float = option(1.0, help="narrowest stroke in pixels (CLIPDraw: 1; 0 lets strokes vanish)", min=0)
    max_width: float = option(50.0, help="widest stroke in pixels (CLIPDraw: 50)", min=0)
    learn_widths: bool = option(True, help="optimise the widths (else they stay at init_width)")
    shapes: int = option(0, help="closed filled shapes drawn under the strokes", min=0)
    shape_segments: int = option(4, help="cubic segments around each shape", min=1)
    shape_size: float = option(0.1, help="starting radius of the shapes, as a fraction of the canvas's shorter side", min=0)
    color: Optional[str] = option(
        None, help="one fixed colour for every path (a name or #rrggbb), not optimised; null: random RGBA, optimised"
    )
    init_alpha: Optional[float] = option(None, help="starting opacity of every path (null: random, as CLIPDraw)", min=0, max=1)
    init_image: Optional[str] = option(None, help="image whose colour under each path starts that path's colour", file="image")
    background: str = option(
        "white",
        help="a colour (name, #rrggbb) or an image file drawn behind the paths",
        file=FileOption(kind="image", needs_suffix=True),
    )
    samples: int = option(12, help="points per cubic segment of the polylines the torch renderer draws", min=2)
    softness: float = option(
        1.25, help="width in pixels of the anti-aliased edge (torch renderer; 1.25 is closest to SVG renderers)", min=0.05
    )
    backend: str = option(
        "auto", help="renderer: torch (built in), diffvg (needs pydiffvg), auto (diffvg if pydiffvg imports, else torch)",
        choices=["auto", "torch", "diffvg"],
    )

    def __post_init__(self):
        if len(self.segments) not in (1, 2) or self.segments[0] > self.segments[-1]:
            raise ValueError(f"segments must be [n] or [min, max] with min <= max, got {list(self.segments)}")
        if self.min_width > self.max_width:
            raise ValueError(f"min_width ({self.min_width}) is above max_width ({self.max_width})")
        if not self.min_width <= self.init_width <= self.max_width:
            raise ValueError(f"init_width ({self.init_width}) must lie between min_width ({self.min_width}) and max_width ({self.max_width})")
        if self.strokes + self.shapes == 0:
            raise ValueError("needs at least one stroke or shape (strokes and shapes are both 0)")
        if self.color is not None and parse_color(self.color) is None:
            raise ValueError(f"color {self.color!r} is not a colour name, #rrggbb or rgb(r, g, b)")


class Strokes(pixengine.Parameterization):
    """Cubic Bézier strokes (and optional filled shapes) drawn by a differentiable rasterizer.

    CLIPDraw's parameterization: N open paths of 1-3 cubic segments with widths and RGBA
    colours, composited in order over a background. Rendered in pure torch (or with diffvg
    when installed); the final image is also written as SVG.
    """

    name = "strokes"
    Options = StrokesOptions
    supports_resize = True

    def __init__(self, options: StrokesOptions, ctx):
        super().__init__(options, ctx)
        self.use_diffvg = self._choose_backend(options.backend)
        self._draws = 0
        width, height = ctx.width, ctx.height
        self._background_image = None
        self.register_buffer("background", self._load_background(width, height))
        self._init_image = ctx.load_image(options.init_image, option="init_image") if options.init_image else None

        cpu = torch.device("cpu")  # draw on the CPU so a seed gives the same start on any device
        size = torch.tensor([float(width), float(height)])
        lo, hi = options.segments[0], options.segments[-1]
        n = options.strokes
        start = torch.rand(n, 1, 2, device=cpu) * size
        # CLIPDraw's start: a random walk of control points from a random first point.
        steps = (torch.rand(n, 3 * hi, 2, device=cpu) - 0.5) * options.spread * size
        stroke_points = torch.cat([start, start + steps.cumsum(1)], dim=1)
        segments = torch.randint(lo, hi + 1, (n,), device=cpu)
        shape_points = self._shape_start(options.shapes, options.shape_segments, options.shape_size, width, height)

        if options.color is not None:
            colors = torch.tensor([*parse_color(options.color), 1.0]).repeat(options.shapes + n, 1)
        else:
            colors = torch.rand(options.shapes + n, 4, device=cpu)
        if options.init_alpha is not None:
            colors[:, 3] = options.init_alpha
        if self._init_image is not None:
            centres = torch.cat([shape_points.mean(1), collapse_unused(stroke_points, segments).mean(1)])
            colors[:, :3] = self._colors_under(self._init_image.cpu(), centres)

        device = ctx.device
        self.points = torch.nn.Parameter(stroke_points.to(device))
        self.register_buffer("segments", segments.to(device))
        self.shape_points = torch.nn.Parameter(shape_points.to(device))
        self.widths = torch.nn.Parameter(torch.full((n,), float(options.init_width), device=device))
        self.widths.requires_grad_(options.learn_widths)
        self.colors = torch.nn.Parameter(colors.to(device))
        self.colors.requires_grad_(options.color is None)

    # -- set-up -------------------------------------------------------------------------

    def _choose_backend(self, backend: str) -> bool:
        if backend == "diffvg" and not diffvg_backend.available():
            raise ConfigError(
                "backend 'diffvg' needs the pydiffvg module, which does not import here (diffvg has no package on "
                "PyPI and must be built from github.com/BachiLi/diffvg). Use backend: torch (built in) or auto.",
                key="backend",
            )
        return backend == "diffvg" or (backend == "auto" and diffvg_backend.available())

    def _load_background(self, width: int, height: int) -> torch.Tensor:
        text = self.options.background
        rgb = parse_color(text)
        if rgb is not None:
            return torch.tensor(rgb, device=self.ctx.device)
        if not resolve_path(text).is_file() and not Path(text).suffix:
            raise ConfigError(
                f"'{text}' is neither a colour (a name such as white, or #rrggbb) nor an image file", key="background"
            )
        image = self.ctx.load_image(text, (width, height), option="background")
        self._background_image = image
        return image[0]

    @staticmethod
    def _shape_start(count: int, segments: int, size: float, width: int, height: int) -> torch.Tensor:
        """Random blobs: circles of cubic arcs, jittered. (count, 3 * segments, 2)."""
        if count == 0:
            return torch.zeros(0, 3 * segments, 2)
        base = min(width, height) * size
        centre = torch.rand(count, 1, 2) * torch.tensor([float(width), float(height)])
        radius = base * (0.5 + 0.5 * torch.rand(count, 1, 1))
        angle = torch.rand(count, 1) * 2 * math.pi + torch.arange(segments) * (2 * math.pi / segments)
        handle = 4 / 3 * math.tan(math.pi / (2 * segments))  # cubic arc approximation of a circle
        rim = torch.stack([angle.cos(), angle.sin()], -1)
        tangent = torch.stack([-angle.sin(), angle.cos()], -1)
        after = rim + handle * tangent
        before = rim.roll(-1, dims=1) - handle * tangent.roll(-1, dims=1)
        unit = torch.stack([rim, after, before], dim=2).reshape(count, 3 * segments, 2)
        unit = unit + 0.25 * torch.randn(unit.shape)
        return centre + radius * unit

    def _colors_under(self, image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        x = points[:, 0].floor().long().clamp(0, w - 1)
        y = points[:, 1].floor().long().clamp(0, h - 1)
        return image[0, :, y, x].t()

    def references(self):
        refs = {}
        if self._init_image is not None:
            refs["init image"] = self._init_image
        if self._background_image is not None:
            refs["background"] = self._background_image
        return refs

    # -- the image ------------------------------------------------------------------------

    def param_groups(self) -> list[dict]:
        # Absolute rates in CLIPDraw's units (points and widths in pixels, colours in [0, 1]);
        # a preset changes them with optimizer.groups.NAME.lr (optimizer.lr does not apply).
        def live(*params):
            return [p for p in params if p.numel() and p.requires_grad]

        return [
            {"name": "points", "params": live(self.points, self.shape_points), "lr": POINTS_LR},
            {"name": "widths", "params": live(self.widths), "lr": WIDTHS_LR},
            {"name": "colors", "params": live(self.colors), "lr": COLORS_LR},
        ]

    @torch.no_grad()
    def _project(self) -> None:
        """Put widths and colours back in their valid range before drawing.

        This is CLIPDraw's clamp after each optimiser step, done before the next draw instead:
        a projection keeps Adam's steps in the published units, where a squashing function
        (softplus, sigmoid) would change what its learning rates mean.
        """
        self.widths.clamp_(self.options.min_width, self.options.max_width)
        self.colors.clamp_(0, 1)

    def curves(self) -> Curves:
        """The current paths, shapes first (underneath), then strokes, in drawing order."""
        self._project()
        parts = []
        n_shapes, n_strokes = self.shape_points.shape[0], self.points.shape[0]
        device = self.points.device
        if n_shapes:
            parts.append(
                Curves(
                    points=close_paths(self.shape_points),
                    segments=torch.full((n_shapes,), self.options.shape_segments, device=device),
                    closed=torch.ones(n_shapes, dtype=torch.bool, device=device),
                    widths=self.widths.new_zeros(n_shapes),
                    colors=self.colors[:n_shapes],
                )
            )
        if n_strokes:
            parts.append(
                Curves(
                    points=collapse_unused(self.points, self.segments),
                    segments=self.segments,
                    closed=torch.zeros(n_strokes, dtype=torch.bool, device=device),
                    widths=self.widths,
                    colors=self.colors[n_shapes:],
                )
            )
        return Curves.concat(parts)

    def forward(self) -> torch.Tensor:
        curves = self.curves()
        width, height = self.ctx.width, self.ctx.height
        if self.use_diffvg:
            self._draws += 1  # diffvg's sample pattern changes per draw, as in CLIPDraw
            return diffvg_backend.render_curves(curves, width, height, self.background, seed=self._draws)
        return render_curves(curves, width, height, self.background, self.options.samples, self.options.softness)

    # -- growing and exporting ------------------------------------------------------------

    def resize(self, width: int, height: int) -> None:
        sx, sy = width / self.ctx.width, height / self.ctx.height
        scale = torch.tensor([sx, sy], device=self.points.device)
        with torch.no_grad():
            points = self.points * scale
            shape_points = self.shape_points * scale
            widths = (self.widths * math.sqrt(sx * sy)).clamp(self.options.min_width, self.options.max_width)
        self.points = torch.nn.Parameter(points)
        self.shape_points = torch.nn.Parameter(shape_points)
        self.widths = torch.nn.Parameter(widths, requires_grad=self.options.learn_widths)
        self.colors = torch.nn.Parameter(self.colors.detach().clone(), requires_grad=self.options.color is None)
        if self._background_image is not None:
            self.background = self._load_background(width, height)

    def export(self, stem: str) -> list[str]:
        path = Path(stem + ".svg")
        with torch.no_grad():
            text = to_svg(self.curves(), self.ctx.width, self.ctx.height, self.background, title=self.ctx.prompt)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)  # atomic, like the engine's other outputs
        return [str(path)]
