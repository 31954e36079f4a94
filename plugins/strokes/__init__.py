"""Strokes: images drawn by cubic Bézier paths through a differentiable rasterizer (CLIPDraw,
StyleCLIPDraw).

Modules: ``bezier`` (paths and their sampling), ``raster`` (the pure-torch renderer),
``diffvg_backend`` (optional renderer), ``svg`` (export), ``parameterization`` (the
``strokes`` component).
"""

from __future__ import annotations

import pixengine

from .parameterization import Strokes


@pixengine.hookimpl
def register_parameterizations(register):
    register(Strokes)
