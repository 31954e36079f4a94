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
from pixengine.weights import cache_dir, find_weights, offline

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

@dataclass(frozen=True)
class Published:
    """A published checkpoint: where it comes from and whether that link downloads directly."""

    description: str
    #: A direct download URL, or the page to fetch the file from by hand.
    source: str
    direct: bool
    #: Why there is no direct download, when there is none.
    no_download: str = ""


class _PublishedCheckpointModel(pixengine.Model):
    """Finding, listing and fetching a generator's published checkpoints, the same way for
    every generator family: ``CHECKPOINTS`` names them, ``cache_name`` places them in the cache."""

    #: name -> Published; the ``checkpoint`` option chooses one.
    CHECKPOINTS: dict[str, Published] = {}
    #: What the file holds, for how-to messages ("taming-transformers' published VQGAN").
    what = ""
    #: More advice on supplying a file of this family.
    advice = ""

    @classmethod
    def cache_name(cls, checkpoint: str) -> str:
        return f"{cls.name}/{checkpoint}{'.ckpt' if cls.name == 'vqgan' else '.pt'}"

    @classmethod
    def weight_files(cls, options, key: str = "") -> dict:
        published = cls.CHECKPOINTS[options.checkpoint]
        label = key or "models.LABEL"
        target = cache_dir() / cls.cache_name(options.checkpoint)
        if published.direct:
            how = (f"Download it from {published.source} ({cls.what}) and give its path as {label}.path=FILE, or save it "
                   f"as {target}; `pixengine models fetch {options.checkpoint}` does that where a network exists.")
        else:
            how = f"Download {options.checkpoint} from {published.source} and give its path as {label}.path=FILE, or save it as {target}."
        path = find_weights(
            f"{cls.name} ({options.checkpoint})",
            path=options.path,
            cached=[cls.cache_name(options.checkpoint)],
            download=(lambda cache: _download(published.source, cache / cls.cache_name(options.checkpoint))) if published.direct else None,
            how=" ".join(part for part in (how, cls.advice) if part),
        )
        return {options.checkpoint: path}

    @classmethod
    def catalog(cls) -> list[CatalogEntry]:
        entries = []
        for name, published in cls.CHECKPOINTS.items():
            local = cache_dir() / cls.cache_name(name)
            where = "" if published.direct else f"; from {published.source}"
            entries.append(CatalogEntry(name, published.description + where, str(local) if local.is_file() else None))
        return entries

    @classmethod
    def fetch(cls, entry: str) -> str:
        published = cls.CHECKPOINTS[entry]
        target = cache_dir() / cls.cache_name(entry)
        if not published.direct:
            raise PixengineError(
                f"'{entry}' cannot be downloaded automatically ({published.no_download}). Download it from {published.source} and save it as "
                f"{target}, or pass its path as models.LABEL.path=FILE."
            )
        if offline():
            raise PixengineError(f"'{entry}' was not fetched: PIXENGINE_OFFLINE (or HF_HUB_OFFLINE) is set")
        try:
            return str(_download(published.source, target))
        except OSError as exc:  # no network, dead link: a message, not a traceback
            raise PixengineError(
                f"'{entry}' could not be downloaded from {published.source} ({type(exc).__name__}: {exc}); download it by "
                f"hand and save it as {target}"
            ) from None


#: Published taming-transformers checkpoints.
VQGAN_CHECKPOINTS = {
    "vqgan_imagenet_f16_16384": Published(
        "taming-transformers VQGAN, ImageNet, f16, 16384 codes (the VQGAN+CLIP default)",
        "https://heibox.uni-heidelberg.de/d/a7530b09fed84f80a887/files/?p=%2Fckpts%2Flast.ckpt&dl=1",
        direct=True,
    ),
    "vqgan_imagenet_f16_1024": Published(
        "taming-transformers VQGAN, ImageNet, f16, 1024 codes",
        "https://heibox.uni-heidelberg.de/d/8088892a516d4e3baf92/files/?p=%2Fckpts%2Flast.ckpt&dl=1",
        direct=True,
    ),
}


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


class VQGANModel(_PublishedCheckpointModel):
    """A taming-transformers VQGAN (encoder, decoder, codebook) from its published checkpoint.

    The architecture is read from the checkpoint; the Lightning file's training-loss weights
    (``loss.*``: discriminator, LPIPS) are ignored.
    """

    name = "vqgan"
    Options = VQGANOptions
    CHECKPOINTS = VQGAN_CHECKPOINTS
    what = "taming-transformers' published checkpoint, about 1 GB"

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


# ------------------------------------------------------------------------------------------
# StyleGAN2
# ------------------------------------------------------------------------------------------

#: Published rosinality-layout checkpoints.
STYLEGAN2_CHECKPOINTS = {
    "stylegan2-ffhq-config-f": Published(
        "StyleGAN2 FFHQ 1024 px, config-f, converted to rosinality/stylegan2-pytorch (g_ema + latent_avg)",
        "https://drive.google.com/file/d/1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT/view (the file StyleCLIP uses)",
        direct=False,
        no_download="Google Drive offers no direct link for files this large",
    ),
}


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


class StyleGAN2Model(_PublishedCheckpointModel):
    """A StyleGAN2 generator (mapping + synthesis) in rosinality/stylegan2-pytorch's layout.

    Reads ``g_ema`` (the moving-average generator) and ``latent_avg`` (the mean W used for
    truncation); a training checkpoint without ``latent_avg`` gets one from ``mean_samples``
    mapped samples. The architecture is read from the checkpoint.
    """

    name = "stylegan2"
    Options = StyleGAN2Options
    CHECKPOINTS = STYLEGAN2_CHECKPOINTS
    advice = "Other StyleGAN2 models work once converted to this layout with convert_weight.py of rosinality/stylegan2-pytorch."

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
