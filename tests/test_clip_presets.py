"""Every shipped preset that uses CLIP runs end to end, with the tiny model in place of each
real one (real weights cannot be downloaded here) and everything made small."""

from __future__ import annotations

import json

import pytest
from clip_fixtures import one_thread
from PIL import Image

import pixengine
from pixengine.plugins import get_registry

single_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


def clip_presets() -> list[str]:
    """Shipped presets with an open_clip model, their parents' included."""
    names = sorted(get_registry().presets)
    return [name for name in names if any(m.entry.name == "open_clip" for m in pixengine.resolve(name).models)]


def test_the_clip_presets_are_shipped():
    assert {"clip_pixels", "clip_duo"} <= set(clip_presets())


@pytest.mark.parametrize("preset", clip_presets())
def test_a_clip_preset_runs_with_the_tiny_model(preset, tiny_clip, quick, tmp_path):
    spec = pixengine.resolve(preset)
    overrides = {"steps": 2, "width": 40, "height": 32, **quick}
    labels = [m.label for m in spec.models if m.entry.name == "open_clip"]
    assert labels, f"{preset} names no open_clip model"
    for label in labels:
        overrides.update(tiny_clip.overrides(label))
    for aug in spec.augmentations:
        if aug.entry.name == "cutouts":
            overrides[f"augmentations.{aug.label}.count"] = 2
    result = pixengine.run(preset, **overrides)
    assert result.status == "finished" and result.steps_done == 2
    assert Image.open(result.final_path).size == (40, 32)
    records = [json.loads(line) for line in (result.output_dir / "log.jsonl").read_text().splitlines()]
    clip_losses = [s.label for s in spec.losses if s.entry.plugin == "clip"]
    assert clip_losses and all(label in records[-1]["raw"] for label in clip_losses)
