"""Every shipped preset validates and runs end to end, made small. Models whose weights cannot be
had on these machines (CLIP, VQGAN, StyleGAN2) are replaced by tiny models of the same
architecture, loaded by path through the real loaders; models with real weights here (VGG19,
the style networks) and weight-free ones run as they are."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import pixengine
from gan_fixtures import save_stylegan2_checkpoint, save_vqgan_checkpoint
from pixengine.plugins import get_registry

SIZE = {"width": 64, "height": 48}  # the smallest canvas every shipped layer choice accepts


@pytest.fixture(scope="module")
def tiny_generators(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generators")
    return {
        "vqgan": save_vqgan_checkpoint(folder / "tiny_vqgan.ckpt"),
        "stylegan2": save_stylegan2_checkpoint(folder / "tiny_stylegan2.pt"),
    }


def substitutes(spec, tiny_clip, tiny_generators) -> dict:
    """Overrides putting tiny stand-ins in place of models that need downloaded weights."""
    overrides = {}
    for model in spec.models:
        if model.entry.name == "open_clip":
            overrides.update(tiny_clip.overrides(model.label))
        elif model.entry.name in tiny_generators:
            overrides[f"models.{model.label}.path"] = str(tiny_generators[model.entry.name])
    return overrides


def smaller(spec) -> dict:
    """Overrides that keep each preset's components but shrink their work."""
    overrides = {}
    for aug in spec.augmentations:
        if aug.entry.name == "cutouts":
            overrides[f"augmentations.{aug.label}.count"] = 2
    options = spec.parameterization.options
    if hasattr(options, "topk_samples"):
        overrides.update({"parameterization.topk_samples": 4, "parameterization.topk": 2})
    if hasattr(options, "strokes"):
        overrides["parameterization.strokes"] = min(options.strokes, 16)
    if spec.settings.optimizer.warmup:
        overrides["optimizer.warmup"] = 1
    return overrides


def test_every_preset_validates_and_describes_itself():
    for name in get_registry().presets:
        spec = pixengine.resolve(name)
        assert spec.settings.description, f"preset {name} has no description"


@pytest.mark.parametrize("name", sorted(get_registry().presets))
def test_shipped_preset_runs(name, tiny_clip, tiny_generators, quick, monkeypatch, tmp_path):
    monkeypatch.setenv("PIXENGINE_OFFLINE", "1")
    spec = pixengine.resolve(name)
    overrides = {"steps": 2, **SIZE, **quick, **smaller(spec), **substitutes(spec, tiny_clip, tiny_generators)}
    result = pixengine.run(name, **overrides)
    assert result.status == "finished" and result.steps_done == 2
    assert Image.open(result.final_path).size == (SIZE["width"], SIZE["height"])
    records = [json.loads(line) for line in (result.output_dir / "log.jsonl").read_text().splitlines()]
    assert set(records[-1]["raw"]) == {loss.label for loss in spec.losses}


def test_every_shipped_preset_is_in_the_readme_table():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("### Shipped presets", 1)[1].split("\n## ", 1)[0]
    for name in get_registry().presets:
        assert f"`{name}`" in table, f"preset {name} is missing from the README's shipped presets table"


def test_the_readme_gallery_shows_shipped_presets_and_its_pictures_exist():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pictures = re.findall(r"!\[([a-z0-9_]+)\]\((docs/gallery/[a-z0-9_]+\.jpg)\)", (root / "README.md").read_text())
    assert len(pictures) >= 6
    for name, path in pictures:
        assert name in get_registry().presets, f"the gallery shows '{name}', which is not a shipped preset"
        assert (root / path).is_file(), f"{path} is missing: run python scripts/make_gallery.py {name}"
