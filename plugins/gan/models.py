"""Generator models: pretrained networks loaded from their published checkpoint files.

Each model finds its file through :func:`pixengine.weights.find_weights` (the ``path``
option, then pixengine's cache, then a download where the publisher offers a direct link),
reads it without running code (:mod:`.checkpoints`), infers the architecture from the tensor
shapes, checks every key, and exposes the few operations a parameterization needs.

Why infer the architecture rather than take it as options: a checkpoint's shapes determine it
completely (channel counts, levels, blocks, codebook size, resolution), so a user pointing at
any VQGAN or StyleGAN2 file of these layouts needs no extra settings, and a wrong setting
cannot silently mis-load a file. What the file cannot tell (StyleGAN2's mapping learning-rate
multiplier, a run-time constant) is an option with the published default.
"""

from __future__ import annotations

import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

import pixengine
from pixengine import CatalogEntry, ConfigError, PixengineError, option
from pixengine.weights import cache_dir, find_weights

from . import stylegan2, vqgan
from .checkpoints import load_into, read_checkpoint, without_prefixes


def _download(url: str, target: Path) -> Path:
    """Stream ``url`` to ``target`` through a temporary name, so a broken transfer leaves nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:  # noqa: S310 - fixed https URLs
        shutil.copyfileobj(response, out, length=1 << 20)
    partial.replace(target)
    return target


# ------------------------------------------------------------------------------------------
# VQGAN
# ------------------------------------------------------------------------------------------

#: Published taming-transformers checkpoints: name -> (direct download URL, description).
VQGAN_CHECKPOINTS = {
    "vqgan_imagenet_f16_16384": (
        "https://heibox.uni-heidelberg.de/d/a7530b09fed84f80a887/files/?p=%2Fckpts%2Flast.ckpt&dl=1",
        "taming-transformers VQGAN, ImageNet, f16, 16384 codes (the VQGAN+CLIP default)",
    ),
    "vqgan_imagenet_f16_1024": (
        "https://heibox.uni-heidelberg.de/d/8088892a516d4e3baf92/files/?p=%2Fckpts%2Flast.ckpt&dl=1",
        "taming-transformers VQGAN, ImageNet, f16, 1024 codes",
    ),
}


def _vqgan_cache_name(name: str) -> str:
    return f"vqgan/{name}.ckpt"


@dataclass
class VQGANOptions:
    path: Optional[str] = option(
        None, help="the checkpoint file (.ckpt of taming-transformers, or a state dict .pt/.safetensors)", file="weights"
    )
    checkpoint: str = option(
        "vqgan_imagenet_f16_16384",
        help="published checkpoint to look for in the cache (and download) when 'path' is not set",
        choices=list(VQGAN_CHECKPOINTS),
    )


class VQGANModel(pixengine.Model):
    """A taming-transformers VQGAN (encoder, decoder, codebook) from its published checkpoint.

    The architecture is read from the checkpoint; the Lightning file's training-loss weights
    (``loss.*``: discriminator, LPIPS) are ignored.
    """

    name = "vqgan"
    Options = VQGANOptions

    @classmethod
    def weight_files(cls, options: VQGANOptions, key: str = "") -> dict:
        url, _ = VQGAN_CHECKPOINTS[options.checkpoint]
        path = find_weights(
            f"vqgan ({options.checkpoint})",
            path=options.path,
            cached=[_vqgan_cache_name(options.checkpoint)],
            download=lambda cache: _download(url, cache / _vqgan_cache_name(options.checkpoint)),
            how=(
                f"Download it from {url} (taming-transformers' published {options.checkpoint}, about 1 GB) and give "
                f"its path as models.LABEL.path=FILE, or save it as {cache_dir() / _vqgan_cache_name(options.checkpoint)}; "
                f"`pixengine models fetch {options.checkpoint}` does that where a network exists."
            ),
        )
        return {options.checkpoint: path}

    def __init__(self, options: VQGANOptions, ctx):
        super().__init__(options, ctx)
        (self.path,) = self.weight_files(options).values()
        data = read_checkpoint(self.path)
        state = data["state_dict"] if isinstance(data.get("state_dict"), dict) else data
        # The training loss (PatchGAN discriminator, LPIPS) lives in the same state dict.
        state, _ = without_prefixes(state, ("loss.",))
        self.net = vqgan.VQGAN(vqgan.config_from_state_dict(state))
        load_into(self.net, state, what="taming-transformers VQGAN", path=self.path)
        self.requires_grad_(False)
        self.eval()

    @property
    def config(self) -> vqgan.VQGANConfig:
        return self.net.config

    @property
    def factor(self) -> int:
        return self.net.config.factor

    @property
    def codebook(self) -> torch.Tensor:
        """(n_embed, embed_dim) code vectors."""
        return self.net.quantize.embedding.weight

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Image (B, 3, H, W) in [0, 1] -> continuous latent (B, embed_dim, H / f, W / f)."""
        return self.net.encode(image * 2 - 1)

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Snap to the codebook with a straight-through gradient."""
        return self.net.quantize(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent -> image, about [-1, 1]."""
        return self.net.decode(z)

    @classmethod
    def catalog(cls) -> list[CatalogEntry]:
        entries = []
        for name, (_, description) in VQGAN_CHECKPOINTS.items():
            local = cache_dir() / _vqgan_cache_name(name)
            entries.append(CatalogEntry(name, description, str(local) if local.is_file() else None))
        return entries

    @classmethod
    def fetch(cls, entry: str) -> str:
        url, _ = VQGAN_CHECKPOINTS[entry]
        return str(_download(url, cache_dir() / _vqgan_cache_name(entry)))


# ------------------------------------------------------------------------------------------
# StyleGAN2
# ------------------------------------------------------------------------------------------

#: Published rosinality-layout checkpoints: name -> (where to get it, description). They are on
#: Google Drive, which offers no direct download link for files this large, so none is fetched.
STYLEGAN2_CHECKPOINTS = {
    "stylegan2-ffhq-config-f": (
        "https://drive.google.com/file/d/1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT/view (the file StyleCLIP uses)",
        "StyleGAN2 FFHQ 1024 px, config-f, converted to rosinality/stylegan2-pytorch (g_ema + latent_avg)",
    ),
}


def _stylegan2_cache_name(name: str) -> str:
    return f"stylegan2/{name}.pt"


@dataclass
class StyleGAN2Options:
    path: Optional[str] = option(
        None, help="the checkpoint file: {g_ema, latent_avg} as saved by rosinality/stylegan2-pytorch", file="weights"
    )
    checkpoint: str = option(
        "stylegan2-ffhq-config-f",
        help="published checkpoint to look for in the cache when 'path' is not set",
        choices=list(STYLEGAN2_CHECKPOINTS),
    )
    lr_mlp: float = option(0.01, help="learning-rate multiplier the mapping network was trained with (0.01 in all published models)", min=0)
    mean_samples: int = option(4096, help="samples averaged for the mean latent when the file has no latent_avg", min=1)


class StyleGAN2Model(pixengine.Model):
    """A StyleGAN2 generator (mapping + synthesis) in rosinality/stylegan2-pytorch's layout.

    Reads ``g_ema`` (the moving-average generator) and ``latent_avg`` (the mean W used for
    truncation); a training checkpoint without ``latent_avg`` gets one from ``mean_samples``
    mapped samples. The architecture is read from the checkpoint.
    """

    name = "stylegan2"
    Options = StyleGAN2Options

    @classmethod
    def weight_files(cls, options: StyleGAN2Options, key: str = "") -> dict:
        source, _ = STYLEGAN2_CHECKPOINTS[options.checkpoint]
        path = find_weights(
            f"stylegan2 ({options.checkpoint})",
            path=options.path,
            cached=[_stylegan2_cache_name(options.checkpoint)],
            how=(
                f"Download {options.checkpoint}.pt from {source} and give its path as models.LABEL.path=FILE, or "
                f"save it as {cache_dir() / _stylegan2_cache_name(options.checkpoint)}. Other StyleGAN2 models work once "
                "converted to this layout with convert_weight.py of rosinality/stylegan2-pytorch."
            ),
        )
        return {options.checkpoint: path}

    def __init__(self, options: StyleGAN2Options, ctx):
        super().__init__(options, ctx)
        (self.path,) = self.weight_files(options).values()
        data = read_checkpoint(self.path)
        if isinstance(data.get("g_ema"), dict):
            state = data["g_ema"]
        elif any(k.startswith("style.") for k in data):
            state = data  # a bare generator state dict
        else:
            raise ConfigError(
                f"'{self.path}' has no 'g_ema' generator (top-level keys: {', '.join(map(str, list(data)[:8]))})", key="path"
            )
        self.net = stylegan2.Generator(stylegan2.config_from_state_dict(state, options.lr_mlp))
        load_into(self.net, state, what="StyleGAN2 (rosinality layout)", path=self.path, optional=stylegan2.derived_buffer)
        self.requires_grad_(False)
        self.eval()
        average = data.get("latent_avg")
        if isinstance(average, torch.Tensor):
            if average.numel() != self.net.config.style_dim:
                raise ConfigError(
                    f"'{self.path}': latent_avg has {average.numel()} values, the generator's style_dim is {self.net.config.style_dim}",
                    key="path",
                )
            average = average.reshape(1, -1).float()
        else:
            generator = torch.Generator().manual_seed(0)  # the same mean on every run
            average = self.net.mean_latent(options.mean_samples, generator)
        self.register_buffer("latent_avg", average)

    @property
    def config(self) -> stylegan2.StyleGAN2Config:
        return self.net.config

    @property
    def n_latent(self) -> int:
        return self.net.n_latent

    @property
    def style_dim(self) -> int:
        return self.net.config.style_dim

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.mapping(z)

    def synthesis(self, latent: torch.Tensor, noise: str = "fixed") -> torch.Tensor:
        """W (B, style_dim) or W+ (B, n_latent, style_dim) -> image about [-1, 1]."""
        return self.net.synthesis(latent, noise)

    @classmethod
    def catalog(cls) -> list[CatalogEntry]:
        entries = []
        for name, (source, description) in STYLEGAN2_CHECKPOINTS.items():
            local = cache_dir() / _stylegan2_cache_name(name)
            entries.append(CatalogEntry(name, f"{description}; from {source}", str(local) if local.is_file() else None))
        return entries

    @classmethod
    def fetch(cls, entry: str) -> str:
        source, _ = STYLEGAN2_CHECKPOINTS[entry]
        raise PixengineError(
            f"'{entry}' cannot be downloaded automatically (Google Drive). Download it from {source} and save it as "
            f"{cache_dir() / _stylegan2_cache_name(entry)}, or pass its path as models.LABEL.path=FILE."
        )
