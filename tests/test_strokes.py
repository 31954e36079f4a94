"""The strokes family: the rasterizer against a dense reference and finite differences, SVG
export against an independent renderer (cairosvg), degenerate input, the optional diffvg
backend's glue, and the ``strokes`` parameterization inside real runs."""

from __future__ import annotations

import io
import re
import sys
import types
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

import pixengine
from pixengine import ConfigError
from pixengine.plugins import get_registry
from pixengine_plugins.strokes import diffvg_backend
from pixengine_plugins.strokes.bezier import Curves, close_paths, collapse_unused, to_polylines
from pixengine_plugins.strokes.raster import render, render_curves
from pixengine_plugins.strokes.svg import to_svg
from strokes_fixtures import random_curves, reference_render

SVG = "{http://www.w3.org/2000/svg}"


def draw_both(curves: Curves, width: int, height: int, background: torch.Tensor, samples: int = 6):
    vertices, counts = to_polylines(curves, samples)
    args = (vertices, counts, curves.closed, curves.widths, curves.colors, width, height, background)
    return render(*args), reference_render(*args)


def small_run(quick, **overrides):
    settings = {"steps": 3, "width": 48, "height": 32, "parameterization.strokes": 24, **quick, **overrides}
    return pixengine.prepare("strokes_repaint", **settings)


# ------------------------------------------------------------------------------------------
# The rasterizer
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        dict(strokes=20, shapes=0, widths=(0.5, 6.0), background="colour"),
        dict(strokes=12, shapes=4, widths=(0.0, 4.0), background="image"),
        # Thick strokes reaching well past the canvas edges.
        dict(strokes=6, shapes=2, widths=(10.0, 30.0), background="colour", spread=0.8),
    ],
)
def test_box_limited_renderer_equals_dense_reference(case):
    width, height = 40, 32
    g = torch.Generator().manual_seed(len(str(case)))
    curves = random_curves(
        case["strokes"], case["shapes"], width, height, widths=case["widths"], spread=case.get("spread", 0.3), generator=g
    )
    if case["background"] == "image":
        background = torch.rand(3, height, width, generator=g, dtype=torch.float64)
    else:
        background = torch.tensor([0.9, 0.8, 0.7], dtype=torch.float64)
    fast, dense = draw_both(curves, width, height, background)
    assert fast.shape == (1, 3, height, width)
    # The scene really draws something, and the two renderers agree to rounding.
    assert (dense - background.view(1, 3, -1, 1 if background.dim() == 1 else width)).abs().max() > 0.3
    assert torch.allclose(fast, dense, rtol=0, atol=1e-12)


def scene_with_free_points(n_strokes, n_shapes, width, height, generator, **kwargs):
    """A random scene as leaf tensors (stroke points, the shapes' free points, widths, colours)
    and a function drawing it from them. Closed shapes repeat their first point at the end;
    passing only the free points keeps that repeat tied to the first point, as it is in use."""
    strokes = random_curves(n_strokes, 0, width, height, generator=generator, **kwargs)
    shapes = random_curves(0, n_shapes, width, height, generator=generator, spread=0.3)
    leaves = (
        strokes.points.clone().requires_grad_(),
        shapes.points[:, :-1].clone().requires_grad_(),
        strokes.widths.clone().requires_grad_(),
        torch.cat([shapes.colors, strokes.colors]).requires_grad_(),
    )

    def curves(stroke_points, shape_points, widths, colors):
        return Curves.concat([
            Curves(close_paths(shape_points), shapes.segments, shapes.closed, shapes.widths, colors[:n_shapes]),
            Curves(stroke_points, strokes.segments, strokes.closed, widths, colors[n_shapes:]),
        ])

    return leaves, curves


def test_gradients_equal_the_dense_references():
    width, height = 32, 24
    g = torch.Generator().manual_seed(3)
    leaves, curves_of = scene_with_free_points(8, 2, width, height, g)
    weights = torch.rand(1, 3, height, width, generator=g, dtype=torch.float64)
    grads = []
    for fn in (render, reference_render):
        curves = curves_of(*leaves)
        vertices, counts = to_polylines(curves, 6)
        image = fn(vertices, counts, curves.closed, curves.widths, curves.colors, width, height, torch.ones(3, dtype=torch.float64))
        grads.append(torch.autograd.grad((image * weights).sum(), leaves))
    for fast, dense in zip(*grads):
        assert dense.abs().max() > 0
        assert torch.allclose(fast, dense, rtol=1e-9, atol=1e-9)


def test_gradients_match_finite_differences():
    """Control points, widths and colours of strokes and a filled shape, float64, 24x24."""
    width, height = 24, 24
    g = torch.Generator().manual_seed(7)
    leaves, curves_of = scene_with_free_points(3, 1, width, height, g, widths=(1.5, 5.0), spread=0.4)
    background = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)

    def draw(*leaves):
        return render_curves(curves_of(*leaves), width, height, background, samples=5)

    # fast_mode compares random projections u^T J v of the analytic and numeric Jacobians.
    assert torch.autograd.gradcheck(draw, leaves, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)
    # ...and the gradients are not trivially zero.
    image = draw(*leaves)
    grads = torch.autograd.grad((image * torch.rand(image.shape, generator=g, dtype=torch.float64)).sum(), leaves)
    assert all(grad.abs().max() > 1e-3 for grad in grads)


# ------------------------------------------------------------------------------------------
# Degenerate input
# ------------------------------------------------------------------------------------------


def one_stroke(points, width, color=(0.0, 0.0, 0.0, 1.0)) -> Curves:
    points = torch.as_tensor(points, dtype=torch.float64).view(1, -1, 2)
    return Curves(
        points=points.clone().requires_grad_(),
        segments=torch.tensor([(points.shape[1] - 1) // 3]),
        closed=torch.tensor([False]),
        widths=torch.tensor([float(width)], dtype=torch.float64, requires_grad=True),
        colors=torch.tensor([color], dtype=torch.float64, requires_grad=True),
    )


WHITE = torch.ones(3, dtype=torch.float64)


def test_zero_width_stroke_draws_nothing_but_can_grow():
    curves = one_stroke([[4, 4], [10, 20], [20, 4], [28, 20]], width=0.0)
    image = render_curves(curves, 32, 24, WHITE)
    assert torch.equal(image, WHITE.view(1, 3, 1, 1).expand_as(image))
    image.sum().backward()
    assert curves.widths.grad.item() < 0  # widening the black stroke would darken the image


def test_points_outside_the_canvas():
    curves = one_stroke([[-50, -40], [-30, -60], [-80, -10], [-40, -45]], width=5.0)
    image = render_curves(curves, 32, 24, WHITE)
    assert torch.equal(image, WHITE.view(1, 3, 1, 1).expand_as(image))
    image.sum().backward()  # still part of the graph: zero gradients, no error
    assert torch.equal(curves.points.grad, torch.zeros_like(curves.points))

    # A stroke crossing the canvas from outside to outside is drawn where it crosses.
    crossing = one_stroke([[-20, 12], [10, 12], [22, 12], [60, 12]], width=3.0)
    image = render_curves(crossing, 32, 24, WHITE)
    assert image[0, :, 12, :].max() < 0.05 and image[0, :, 2, :].min() == 1.0


def test_zero_strokes_give_the_background():
    empty = Curves(
        points=torch.zeros(0, 4, 2, dtype=torch.float64, requires_grad=True),
        segments=torch.zeros(0, dtype=torch.long),
        closed=torch.zeros(0, dtype=torch.bool),
        widths=torch.zeros(0, dtype=torch.float64, requires_grad=True),
        colors=torch.zeros(0, 4, dtype=torch.float64, requires_grad=True),
    )
    background = torch.rand(3, 12, 16, dtype=torch.float64)
    image = render_curves(empty, 16, 12, background)
    assert torch.equal(image[0], background)
    image.sum().backward()
    assert empty.points.grad is not None and empty.points.grad.numel() == 0


def test_coincident_points_draw_a_round_dot_with_finite_gradients():
    curves = one_stroke([[10.5, 8.5]] * 4, width=6.0, color=(1.0, 0.0, 0.0, 1.0))
    image = render_curves(curves, 21, 17, WHITE)
    assert torch.allclose(image[0, :, 8, 10], torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    covered = (image[0, 1] < 0.5).sum().item()
    assert abs(covered - torch.pi * 9) < 6  # about the area of a disc of radius 3
    image.sum().backward()
    assert torch.isfinite(curves.points.grad).all() and torch.isfinite(curves.widths.grad).all()


# ------------------------------------------------------------------------------------------
# SVG export
# ------------------------------------------------------------------------------------------


def svg_to_array(text: str) -> np.ndarray:
    cairosvg = pytest.importorskip("cairosvg")
    png = cairosvg.svg2png(bytestring=text.encode("utf-8"))
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32) / 255


@pytest.mark.parametrize("background", ["colour", "image"])
def test_svg_export_round_trip(background):
    """The SVG holds the exact curves, and cairosvg draws it as the torch renderer does.

    Tolerance: anti-aliasing differs a little (cairo computes exact pixel-area coverage, the
    torch renderer a smooth edge profile, and draws polylines of 12 points per segment), so
    the mean absolute difference must stay below 0.01 and 99% of pixel values within 0.08 (on a
    0-1 scale); measured here about 0.003 and 0.04.
    """
    width, height = 64, 48
    g = torch.Generator().manual_seed(11)
    curves = random_curves(24, 3, width, height, dtype=torch.float32, generator=g)
    if background == "image":
        bg = torch.rand(3, height // 4, width // 4, generator=g).repeat_interleave(4, 1).repeat_interleave(4, 2)
    else:
        bg = torch.tensor([1.0, 0.95, 0.85])
    text = to_svg(curves, width, height, bg, title="a <test> & more")

    root = ET.fromstring(text)
    assert (root.get("width"), root.get("height")) == (str(width), str(height))
    paths = root.findall(f"{SVG}path")
    assert len(paths) == len(curves)
    for i, element in enumerate(paths):
        numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", element.get("d"))]
        expected = curves.path_points(i)
        assert torch.allclose(torch.tensor(numbers).view(-1, 2), expected, atol=1e-3)
        assert element.get("d").endswith("Z") == bool(curves.closed[i])
        opacity = element.get("fill-opacity" if curves.closed[i] else "stroke-opacity")
        assert abs(float(opacity) - float(curves.colors[i, 3])) < 1e-3
        if not curves.closed[i]:
            assert abs(float(element.get("stroke-width")) - float(curves.widths[i])) < 1e-3

    ours = render_curves(curves, width, height, bg)[0].permute(1, 2, 0).numpy()
    theirs = svg_to_array(text)
    difference = np.abs(ours - theirs)
    assert difference.mean() < 0.01, difference.mean()
    assert np.percentile(difference, 99) < 0.08, np.percentile(difference, 99)


# ------------------------------------------------------------------------------------------
# The parameterization
# ------------------------------------------------------------------------------------------


def test_strokes_repaint_runs_and_writes_a_matching_svg(quick):
    result = pixengine.run("strokes_repaint", steps=4, width=48, height=32, **{"parameterization.strokes": 24}, **quick)
    assert result.status == "finished"
    assert result.history[-1]["total"] < result.history[0]["total"]
    svg_path = result.final_path.with_suffix(".svg")
    assert svg_path in result.paths and svg_path.is_file()
    png = np.asarray(Image.open(result.final_path).convert("RGB"), dtype=np.float32) / 255
    difference = np.abs(svg_to_array(svg_path.read_text()) - png)
    assert difference.mean() < 0.01


def test_rerun_from_the_png_reproduces_the_image(quick, tmp_path):
    first = pixengine.run("strokes_repaint", steps=3, width=40, height=24, **{"parameterization.strokes": 16}, **quick)
    again = pixengine.run(from_image=first.final_path, output_dir=str(tmp_path / "again"), progress=False)
    assert torch.equal(first.tensor, again.tensor)
    assert again.final_path.with_suffix(".svg").read_text() == first.final_path.with_suffix(".svg").read_text()


def test_parameter_groups_carry_clipdraws_rates(quick):
    run = small_run(quick, **{"optimizer.groups.widths.lr": 0.3})
    groups = {g["name"]: g for g in run.optimizer.param_groups}
    assert {name: g["lr"] for name, g in groups.items()} == {"points": 1.0, "widths": 0.3, "colors": 0.01}
    p = run.parameterization
    assert groups["points"]["params"][0] is p.points
    assert list(run.settings.optimizer.decay_at) == [0.5, 0.75]


def test_widths_and_colours_are_kept_valid(quick):
    p = small_run(quick).parameterization
    with torch.no_grad():
        p.widths[0], p.widths[1] = 1000.0, -5.0
        p.colors[0, 0], p.colors[1, 3] = 2.0, -1.0
    image = p()
    assert p.widths.max() == p.options.max_width and p.widths.min() == p.options.min_width
    assert p.colors.min() == 0 and p.colors.max() == 1
    assert image.min() >= 0 and image.max() <= 1


def test_fixed_colour_shapes_and_segment_counts(quick):
    run = small_run(
        quick,
        **{
            "parameterization.color": "black",
            "parameterization.shapes": 3,
            "parameterization.segments": [2],
            "parameterization.background": "white",
            "parameterization.init_alpha": None,
        },
    )
    p = run.parameterization
    curves = p.curves()
    assert len(curves) == 27 and curves.closed[:3].all() and not curves.closed[3:].any()
    assert (curves.segments[3:] == 2).all()
    assert torch.equal(curves.colors, torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(27, 4))
    assert not p.colors.requires_grad
    assert {g["name"] for g in run.optimizer.param_groups} == {"points", "widths"}
    image = p()
    assert torch.allclose(image[0, 0], image[0, 1]) and torch.allclose(image[0, 1], image[0, 2])  # greys only


def test_init_image_colours_and_background_image(quick):
    photo = "pkg:pixengine_presets/assets/chelsea.jpg"
    run = small_run(quick, **{"parameterization.init_image": photo, "parameterization.background": photo})
    p = run.parameterization
    curves = p.curves()
    target = run.ctx.load_image(photo)[0]
    centre = collapse_unused(p.points, p.segments).mean(1)
    x = centre[:, 0].floor().long().clamp(0, 47)
    y = centre[:, 1].floor().long().clamp(0, 31)
    assert torch.allclose(curves.colors[:, :3], target[:, y, x].t())
    assert set(p.references()) == {"init image", "background"}
    assert p.background.shape == (3, 32, 48)


def test_resize_continues_the_image(quick):
    run = small_run(quick)
    p = run.parameterization
    before = p().detach()
    p.resize(96, 64)
    run.ctx.width, run.ctx.height = 96, 64
    after = p().detach()
    assert after.shape == (1, 3, 64, 96)
    shrunk = torch.nn.functional.interpolate(after, size=(32, 48), mode="area")
    assert (shrunk - before).abs().mean() < 0.05


@pytest.mark.parametrize(
    "override, message",
    [
        ({"parameterization.segments": [3, 1]}, "segments must be"),
        ({"parameterization.strokes": 0}, "at least one stroke or shape"),
        ({"parameterization.color": "notacolour"}, "not a colour"),
        ({"parameterization.min_width": 5.0, "parameterization.init_width": 1.0}, "init_width"),
        ({"parameterization.background": "whte"}, "neither a colour"),
        ({"parameterization.backend": "cairo"}, "one of"),
    ],
)
def test_bad_options_are_reported(quick, override, message):
    with pytest.raises(ConfigError, match=message) as info:
        small_run(quick, **override)
    assert "parameterization" in str(info.value)


def test_diffvg_backend_is_a_clear_error_when_pydiffvg_is_absent(quick, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydiffvg", None)  # makes `import pydiffvg` fail
    diffvg_backend.load.cache_clear()
    try:
        with pytest.raises(ConfigError, match="pydiffvg") as info:
            small_run(quick, **{"parameterization.backend": "diffvg"})
        assert "parameterization.backend" in str(info.value)
        assert small_run(quick).parameterization.use_diffvg is False  # auto falls back to torch
    finally:
        diffvg_backend.load.cache_clear()


def fake_pydiffvg(calls: list) -> types.ModuleType:
    """A stand-in with pydiffvg's interface that records what it is given."""
    module = types.ModuleType("pydiffvg")

    class Path:
        def __init__(self, num_control_points, points, is_closed, stroke_width=None):
            calls.append(("path", num_control_points.tolist(), tuple(points.shape), is_closed, stroke_width.item()))

    class ShapeGroup:
        def __init__(self, shape_ids, fill_color, use_even_odd_rule=True, stroke_color=None):
            calls.append(("group", shape_ids.tolist(), fill_color is not None, stroke_color is not None, use_even_odd_rule))

    class RenderFunction:
        @staticmethod
        def serialize_scene(width, height, shapes, groups):
            return [len(shapes)]

        @staticmethod
        def apply(width, height, sx, sy, seed, backdrop, *scene):
            calls.append(("render", width, height, tuple(backdrop.shape)))
            image = backdrop.clone()
            image[..., 0] = 0.25  # a recognisable result
            return image

    module.Path, module.ShapeGroup, module.RenderFunction = Path, ShapeGroup, RenderFunction
    module.set_device = lambda device: None
    return module


def test_auto_backend_uses_pydiffvg_when_it_imports(quick, monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "pydiffvg", fake_pydiffvg(calls))
    diffvg_backend.load.cache_clear()
    try:
        run = small_run(quick, **{"parameterization.shapes": 2, "parameterization.segments": [2]})
        p = run.parameterization
        assert p.use_diffvg is True
        image = p()
    finally:
        diffvg_backend.load.cache_clear()
    paths = [c for c in calls if c[0] == "path"]
    groups = [c for c in calls if c[0] == "group"]
    assert len(paths) == len(groups) == 26
    # Shapes: closed, 4 segments, 3 * 4 points (diffvg closes them itself), filled.
    assert paths[0] == ("path", [2, 2, 2, 2], (12, 2), True, 0.0)
    assert groups[0][2:] == (True, False, False)
    # Strokes: open, 2 cubic segments, 7 points, stroked with their width.
    assert paths[2][1:4] == ([2, 2], (7, 2), False) and paths[2][4] == pytest.approx(6.0)
    assert groups[2][2:] == (False, True, False)
    assert ("render", 48, 32, (32, 48, 4)) in calls
    assert torch.allclose(image[0, 0], torch.full((32, 48), 0.25))


# ------------------------------------------------------------------------------------------
# Presets
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "preset, needs, strokes",
    [
        ("clipdraw", {"preset": ["clip_pixels"]}, 256),
        ("line_drawing", {"preset": ["clip_pixels"]}, 48),
        ("styleclipdraw", {"preset": ["clip_pixels"], "loss": ["style"], "model": ["vgg"]}, 512),
    ],
)
def test_model_presets_resolve_when_their_plugins_exist(preset, needs, strokes):
    """These presets build on the CLIP (and style) families; they resolve fully once those
    are installed. Without them, the preset is still registered and fails to resolve."""
    registry = get_registry()
    assert preset in registry.presets
    missing = [name for name in needs.get("preset", []) if name not in registry.presets]
    for kind in ("loss", "model"):
        missing += [name for name in needs.get(kind, []) if registry.get(kind, name) is None]
    if missing:
        with pytest.raises(ConfigError):
            pixengine.resolve(preset)
        pytest.skip(f"needs {', '.join(missing)} from another plugin family, not installed here")
    spec = pixengine.resolve(preset)
    assert spec.parameterization.entry.name == "strokes"
    assert spec.parameterization.options.strokes == strokes
    assert "colorspace" not in spec.config.parameterization  # the pixels' options are gone
    settings = spec.settings.optimizer
    assert {name: group.lr for name, group in settings.groups.items()} == {"points": 1.0, "widths": 0.1, "colors": 0.01}
    assert list(settings.decay_at) == [0.5, 0.75] and settings.decay_factor == 0.4


def test_random_shapes_start_with_a_radius_of_half_to_all_of_shape_size():
    from pixengine_plugins.strokes.parameterization import Strokes

    torch.manual_seed(0)
    points = Strokes._shape_start(2000, 4, 0.1, 200, 100)  # base radius: 0.1 of the shorter side, 10 px
    spread = (points - points.mean(dim=1, keepdim=True)).norm(dim=-1).mean(dim=1)
    assert points.shape == (2000, 12, 2)
    assert 5 < spread.mean() < 10
    assert Strokes._shape_start(0, 4, 0.1, 200, 100).shape == (0, 12, 2)
