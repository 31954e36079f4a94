"""A preset (or override) that changes an inherited component's type replaces that section
instead of merging the old type's options into it (needed by presets such as clipdraw, which
extend a pixels preset and draw with strokes instead)."""

from __future__ import annotations

import pixengine


def write(tmp_path, text: str):
    path = tmp_path / "child.yaml"
    path.write_text(text)
    return str(path)


def test_retyped_parameterization_drops_the_inherited_options(tmp_path):
    child = write(tmp_path, "extends: repaint\nparameterization:\n  type: strokes\n  strokes: 8\n")
    spec = pixengine.resolve(child)
    assert spec.parameterization.entry.name == "strokes"
    assert spec.parameterization.options.strokes == 8
    assert "colorspace" not in spec.config.parameterization


def test_same_type_still_merges(tmp_path):
    child = write(tmp_path, "extends: repaint\nparameterization:\n  init_noise: 0.25\n")
    options = pixengine.resolve(child).parameterization.options
    assert options.init_noise == 0.25 and options.colorspace == "decorrelated"  # kept from repaint


def test_retyped_labelled_component_keeps_its_place(tmp_path):
    child = write(tmp_path, "extends: repaint\nlosses:\n  layout: {type: tv, weight: 0.5}\n")
    spec = pixengine.resolve(child)
    assert [loss.label for loss in spec.losses] == ["layout", "colors", "smooth"]
    layout = spec.losses[0]
    assert layout.entry.name == "tv" and layout.options.weight == 0.5
    assert "image" not in spec.config.losses.layout


def test_retyping_from_the_command_line():
    spec = pixengine.resolve("default", overrides=["parameterization.type=strokes"])
    assert spec.parameterization.entry.name == "strokes"
