"""The ``open_clip`` model: any open_clip architecture, loaded from a tag's file or a path."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

import pixengine
from pixengine import CatalogEntry, ConfigError, option
from pixengine.errors import did_you_mean

from . import loading


@dataclass
class OpenClipOptions:
    arch: str = option("ViT-B-32", help="open_clip architecture name (`python -c 'import open_clip; print(open_clip.list_models())'`)")
    pretrained: Optional[str] = option(
        "openai",
        help="open_clip pretrained tag (e.g. openai, laion2b_s34b_b79k): where the weights come from and how images "
        "are normalised; null with `path` for a file of no known tag",
    )
    path: Optional[str] = option(
        None,
        help="explicit weight file (.safetensors, .pt, .bin; OpenAI's TorchScript .pt too); used instead of the cache",
        file="weights",
    )
    quick_gelu: Optional[bool] = option(
        None, help="QuickGELU activations (OpenAI-trained weights); null: as the tag says, or true for OpenAI TorchScript files"
    )

    def __post_init__(self):
        archs = loading.architectures()
        if self.arch not in archs:
            close = difflib.get_close_matches(self.arch, archs, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise ConfigError(
                f"unknown open_clip architecture '{self.arch}'; {hint}`pixengine models list` shows those with known weights",
                key="arch",
            )
        if self.pretrained is not None:
            tags = loading.tags_of(self.arch)
            canonical = self.pretrained.lower().replace("-", "_")  # how open_clip spells its tags
            if canonical in tags:
                self.pretrained = canonical
            else:
                hint = did_you_mean(self.pretrained, tags) if tags else "open_clip knows no pretrained weights for it; use `path`"
                raise ConfigError(f"'{self.pretrained}' is not a pretrained tag of {self.arch}; {hint}", key="pretrained")
        elif not self.path:
            raise ConfigError(
                "set `pretrained` (an open_clip tag such as openai) or `path` (a weight file); pixengine never runs CLIP "
                "with random weights",
                key="pretrained",
            )


class OpenClip(pixengine.Model):
    """An open_clip CLIP model: image and text encoders sharing one embedding space.

    Images are resized to the model's own input size and normalised with its own mean and
    std, so models of different sizes can guide one run. Embeddings are L2-normalised.
    """

    name = "open_clip"
    Options = OpenClipOptions

    @classmethod
    def weight_files(cls, options: OpenClipOptions, key: str = "") -> dict:
        name = loading.catalog_name(options.arch, options.pretrained) if options.pretrained else options.arch
        return {name: loading.find(options.arch, options.pretrained, options.path, key.rpartition(".")[2])}

    def __init__(self, options: OpenClipOptions, ctx):
        super().__init__(options, ctx)
        loaded = loading.load(options.arch, options.pretrained, options.path, options.quick_gelu, _own_label(ctx, options))
        self.clip = loaded.model
        self.tokenizer = loaded.tokenizer
        self.weights_path = str(loaded.path)
        size = self.clip.visual.image_size
        #: (height, width) the image encoder expects; augmentations read it for their default size.
        self.input_size = tuple(size) if isinstance(size, (tuple, list)) else (int(size), int(size))
        self.register_buffer("mean", torch.tensor(loaded.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(loaded.std).view(1, 3, 1, 1), persistent=False)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) in [0, 1] -> (N, D) unit vectors; differentiable."""
        if tuple(images.shape[-2:]) != self.input_size:
            images = F.interpolate(images, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        features = self.clip.encode_image((images - self.mean) / self.std)
        return F.normalize(features, dim=-1)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """(T, D) unit vectors, without gradients."""
        device = self.mean.device
        tokens = self.tokenizer(list(texts)).to(device)
        return F.normalize(self.clip.encode_text(tokens), dim=-1)

    @classmethod
    def catalog(cls) -> list[CatalogEntry]:
        from open_clip.pretrained import list_pretrained

        entries = []
        for arch, tag in list_pretrained():
            local = loading.local_file(arch, tag)
            entries.append(
                CatalogEntry(
                    name=loading.catalog_name(arch, tag),
                    description=f"from {loading.source_text(arch, tag)}",
                    local_path=str(local) if local else None,
                )
            )
        return entries

    @classmethod
    def fetch(cls, entry: str) -> str:
        arch, tag = loading.parse_catalog_name(entry)
        return str(loading.find(arch, tag, None))


def _own_label(ctx, options: OpenClipOptions) -> str:
    """This model's label in the run's ``models`` section (for the how-to in errors)."""
    models = (ctx.config.get("models") if ctx is not None and ctx.config is not None else None) or {}
    for label, section in models.items():
        if label in ctx.models or not section:
            continue
        if section.get("type", label) == OpenClip.name and section.get("arch", "ViT-B-32") == options.arch:
            return str(label)
    return ""
