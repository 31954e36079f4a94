"""Tiny open_clip models for tests: a registered architecture whose random weights are saved
to a file and loaded back by path through pixengine's real loader (no download, no hub).

Tests of CLIP presets use the session fixture ``pixengine_tiny_clip`` (pixengine's pytest plugin)::

    def test_my_preset(pixengine_tiny_clip, pixengine_overrides):
        result = pixengine.run("my_preset", steps=2, width=32, height=32,
                               **pixengine_overrides, **pixengine_tiny_clip.overrides("clip"))

``overrides(label)`` gives ``models.LABEL.arch``, ``models.LABEL.path`` and
``models.LABEL.pretrained=None`` for one model of the preset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

TINY_ARCH = "pixengine-tiny-clip"


def tiny_config(image_size: int = 32, width: int = 64) -> dict:
    """A small ViT CLIP (about 1.7M parameters, most in the token embedding) with the default
    tokenizer's vocabulary, so real prompts tokenise exactly as for ViT-B-32."""
    return {
        "embed_dim": 32,
        "vision_cfg": {"image_size": image_size, "layers": 2, "width": width, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    }


@dataclass(frozen=True)
class TinyClip:
    arch: str
    path: Path
    image_size: int

    def overrides(self, label: str = "clip") -> dict:
        return {f"models.{label}.arch": self.arch, f"models.{label}.path": str(self.path), f"models.{label}.pretrained": None}


def register_arch(folder: Path, name: str, image_size: int, width: int = 64) -> str:
    """Register a tiny architecture with open_clip under ``name`` (process-wide)."""
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"{name}.json"
    config.write_text(json.dumps(tiny_config(image_size, width)))
    open_clip.add_model_config(config)
    return name


def make_tiny_clip(
    folder: Path, name: str = TINY_ARCH, image_size: int = 32, seed: int = 0, suffix: str = ".pt", width: int = 64
) -> TinyClip:
    """Register the architecture and save random weights for it as ``folder/name-seed.suffix``."""
    import open_clip

    register_arch(folder, name, image_size, width)
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    path = folder / f"{name}-{seed}{suffix}"
    save_state_dict(model.state_dict(), path)
    return TinyClip(arch=name, path=path, image_size=image_size)


def save_state_dict(state: dict, path: Path) -> None:
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous().clone() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
