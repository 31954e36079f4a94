"""The shipped GAN presets carry the papers' settings and say which weights they need
(test_shipped_presets.py runs them end to end with tiny generators and a tiny CLIP)."""

from __future__ import annotations

import pytest

import pixengine
from pixengine.plugins import get_registry

GAN_PRESETS = {"vqgan_clip": "vqgan", "styleclip": "stylegan2", "fusedream": "vqgan"}


@pytest.mark.parametrize("name, kind", GAN_PRESETS.items())
def test_gan_preset_names_its_generator_and_its_weights(name, kind):
    spec = pixengine.resolve(name)
    assert spec.parameterization.entry.name == kind and spec.parameterization.entry.plugin == "gan"
    assert "needs" in spec.settings.description
    generator = next(m for m in spec.models if m.label == spec.parameterization.options.model)
    assert generator.entry.name == kind
    catalog = {entry.name for entry in generator.entry.cls.catalog()}
    assert generator.options.checkpoint in catalog
    assert any(m.entry.name == "open_clip" for m in spec.models)


def test_styleclip_preset_carries_the_papers_settings():
    spec = pixengine.resolve("styleclip")
    cfg = spec.config
    assert (cfg.losses.anchor.type, cfg.losses.anchor.weight) == ("latent_anchor", 0.008)
    assert (cfg.optimizer.lr, cfg.optimizer.warmup, cfg.optimizer.rampdown) == (0.1, 15, 0.25)
    assert cfg.steps == 300 and cfg.optimizer.warmup == 0.05 * cfg.steps  # StyleCLIP's rampup 0.05
    assert cfg.parameterization.space == "w+" and cfg.parameterization.truncation == 0.7
    assert not spec.augmentations  # StyleCLIP embeds the whole image


def test_fusedream_preset_starts_from_a_topk_mixture():
    options = pixengine.resolve("fusedream").parameterization.options
    assert options.init == "topk" and options.topk_mixture and options.topk < options.topk_samples
    assert "fusedream" in get_registry().presets
