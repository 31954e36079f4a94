"""The shipped GAN presets: their sections validate, and each runs end to end with a tiny
generator substituted by overrides (CLIP replaced by a target-image loss)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf

import pixengine
from pixengine import config as config_module
from pixengine.plugins import get_registry

from gan_fixtures import save_image, save_stylegan2_checkpoint, save_vqgan_checkpoint

PRESETS = Path(__file__).resolve().parents[1] / "presets"
GAN_PRESETS = {"vqgan_clip": "vqgan", "styleclip": "stylegan2", "fusedream": "vqgan"}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIXENGINE_OFFLINE", "1")


def own_sections(name: str) -> dict:
    """The preset file's own content, with the sections of its parents it names."""
    document = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
    parent = document.get("extends")
    if parent in GAN_PRESETS:
        inherited = own_sections(parent)
        for key, value in document.items():
            inherited[key] = {**inherited[key], **value} if isinstance(value, dict) and isinstance(inherited.get(key), dict) else value
        return inherited
    return document


@pytest.mark.parametrize("name", GAN_PRESETS)
def test_preset_sections_are_valid_for_their_components(name):
    registry = get_registry()
    document = own_sections(name)
    assert name in registry.presets
    assert document["description"] and "needs" in document["description"]
    section = document["parameterization"]
    entry = registry.get("parameterization", section["type"])
    assert entry is not None and entry.plugin == "gan"
    options = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(entry.cls.Options), {k: v for k, v in section.items() if k != "type"}))
    assert options.model in document["models"]
    model = document["models"][options.model]
    model_entry = registry.get("model", model["type"])
    OmegaConf.merge(OmegaConf.structured(model_entry.cls.Options), {k: v for k, v in model.items() if k != "type"})
    assert model["checkpoint"] in {e.name for e in model_entry.cls.catalog()}


def test_styleclip_preset_carries_the_papers_settings():
    document = own_sections("styleclip")
    assert document["losses"]["anchor"] == {"type": "latent_anchor", "weight": 0.008}
    assert document["optimizer"] == {"lr": 0.1, "warmup": 15, "rampdown": 0.25}
    assert document["steps"] == 300 and document["optimizer"]["warmup"] == 0.05 * document["steps"]
    assert document["parameterization"]["space"] == "w+" and document["parameterization"]["truncation"] == 0.7


def test_a_child_preset_that_changes_a_components_type_replaces_it(tmp_path):
    (tmp_path / "parent.yaml").write_text(yaml.safe_dump({
        "parameterization": {"type": "pixels", "colorspace": "decorrelated"},
        "losses": {"look": {"type": "target_image", "image": "a.png", "blur": 2.0}, "tv": {"weight": 0.1}},
    }))
    (tmp_path / "child.yaml").write_text(yaml.safe_dump({
        "extends": "parent.yaml",
        "models": {"vqgan": {"type": "vqgan", "path": "tiny.ckpt"}},
        "parameterization": {"type": "vqgan", "quantize": False},
        "losses": {"look": {"type": "color_stats", "image": "a.png"}, "tv": {"type": "tv", "weight": 0.3}},
    }))
    spec = pixengine.resolve(str(tmp_path / "child.yaml"))
    assert spec.config.parameterization.type == "vqgan" and "colorspace" not in spec.config.parameterization
    assert spec.config.losses.look.type == "color_stats" and "blur" not in spec.config.losses.look
    assert spec.config.losses.tv.weight == 0.3  # same type: options still merge
    over = pixengine.resolve(str(tmp_path / "parent.yaml"), overrides=["parameterization.type=vqgan", "models.vqgan={type: vqgan}"])
    assert dict(over.config.parameterization)["type"] == "vqgan" and "colorspace" not in over.config.parameterization


# -- end to end with tiny generators ---------------------------------------------------------


@pytest.fixture
def target(tmp_path):
    torch.manual_seed(7)
    return save_image(tmp_path / "target.png", torch.rand(1, 3, 4, 4).repeat_interleave(8, -1).repeat_interleave(8, -2))


def ensure_clip_pixels_parent(tmp_path, target):
    """The CLIP presets extend ``clip_pixels`` (issue 3's branch). Where it is not installed, a
    stand-in of the same shape without CLIP is registered, so these presets' own content runs."""
    if "clip_pixels" in get_registry().presets:
        return
    stand_in = tmp_path / "clip_pixels.yaml"
    stand_in.write_text(yaml.safe_dump({
        "prompt": "a test", "steps": 150, "width": 224, "height": 224, "seed": 0,
        "parameterization": {"type": "pixels", "colorspace": "decorrelated"},
        "losses": {"text": {"type": "target_image", "image": str(target)}, "smooth": {"type": "tv", "weight": 0.1}},
    }))
    module = types.ModuleType("clip_pixels_stand_in")
    module.register_presets = pixengine.hookimpl(lambda register: register(stand_in))
    pixengine.plugins.register(module)


def without_clip(name: str, target) -> dict:
    """Overrides that drop the preset's CLIP models and losses for a target-image loss."""
    cfg = config_module.load(name, get_registry()).cfg
    overrides = {f"models.{label}": None for label, section in (cfg.get("models") or {}).items() if section and section.get("type") == "open_clip"}
    overrides.update({f"losses.{label}": None for label, section in (cfg.get("losses") or {}).items() if section and section.get("type") == "clip"})
    overrides["losses.look"] = {"type": "target_image", "image": str(target)}
    return overrides


@pytest.mark.parametrize("name", GAN_PRESETS)
def test_gan_preset_runs_with_a_tiny_generator(tmp_path, target, name):
    ensure_clip_pixels_parent(tmp_path, target)
    kind = GAN_PRESETS[name]
    if kind == "vqgan":
        weights, size = save_vqgan_checkpoint(tmp_path / "tiny.ckpt"), 16
    else:
        weights, size = save_stylegan2_checkpoint(tmp_path / "tiny.pt"), 16
    overrides = without_clip(name, target)
    overrides.update({
        f"models.{kind}.path": str(weights), "steps": 3, "width": size, "height": size, "augmentations": None,
        "output_dir": str(tmp_path / "out"), "progress": False, "save_every": 0,
        "parameterization.topk_samples": 4, "parameterization.topk": 2,
    })
    if name == "styleclip":
        overrides["optimizer.warmup"] = 1
    result = pixengine.run(name, **overrides)
    assert result.status == "finished"
    assert result.tensor.shape == (1, 3, size, size)
    assert result.config.parameterization.type == kind
    if name == "styleclip":
        assert "anchor" in result.history[-1]["raw"]
