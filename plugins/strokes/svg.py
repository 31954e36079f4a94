"""Curves as an SVG document, drawn the way the renderers draw them: paths in order, strokes
with round caps and joins, closed paths filled by the nonzero rule, over a background colour or
an embedded PNG background image."""

from __future__ import annotations

import base64
import io
from xml.sax.saxutils import quoteattr

import torch

from .bezier import Curves


def _number(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _hex(rgb) -> str:
    return "#" + "".join(f"{round(min(max(float(c), 0.0), 1.0) * 255):02x}" for c in rgb)


def path_data(points: torch.Tensor, closed: bool) -> str:
    """``M x y C ...`` for control points (3S + 1, 2); ``Z`` closes a closed path."""
    p = [(_number(x), _number(y)) for x, y in points.tolist()]
    parts = [f"M {p[0][0]} {p[0][1]}"]
    for k in range(1, len(p), 3):
        parts.append("C " + " ".join(f"{x} {y}" for x, y in p[k : k + 3]))
    if closed:
        parts.append("Z")
    return " ".join(parts)


def _background_element(background: torch.Tensor, width: int, height: int) -> str:
    if background.dim() == 1:
        return f'<rect width="{width}" height="{height}" fill="{_hex(background)}"/>'
    from PIL import Image  # only needed for image backgrounds

    array = background.reshape(3, height, width).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array, "RGB").save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<image width="{width}" height="{height}" preserveAspectRatio="none" '
        f'xlink:href="data:image/png;base64,{data}"/>'
    )


def to_svg(curves: Curves, width: int, height: int, background: torch.Tensor, title: str = "") -> str:
    """The SVG text of ``curves`` (pixel coordinates) on a ``width`` x ``height`` canvas."""
    curves = Curves(*(t.detach().cpu() for t in (curves.points, curves.segments, curves.closed, curves.widths, curves.colors)))
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
    ]
    if title:
        lines.append(f"<title>{quoteattr(title)[1:-1]}</title>")
    lines.append(_background_element(background.detach().cpu().float(), width, height))
    for i in range(len(curves)):
        color = curves.colors[i].clamp(0, 1).tolist()
        d = path_data(curves.path_points(i), bool(curves.closed[i]))
        if curves.closed[i]:
            style = f'fill="{_hex(color[:3])}" fill-opacity="{_number(color[3])}" fill-rule="nonzero" stroke="none"'
        else:
            style = (
                f'fill="none" stroke="{_hex(color[:3])}" stroke-opacity="{_number(color[3])}" '
                f'stroke-width="{_number(max(float(curves.widths[i]), 0.0))}" '
                'stroke-linecap="round" stroke-linejoin="round"'
            )
        lines.append(f'<path d="{d}" {style}/>')
    lines.append("</svg>")
    return "\n".join(lines) + "\n"
