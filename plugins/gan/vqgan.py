"""The VQGAN of taming-transformers (Esser, Rombach, Ommer 2021): encoder, decoder and vector
quantiser, written to load the published checkpoints' state dicts by their key names.

Key layout matched (taming-transformers ``taming/models/vqgan.py`` ``VQModel`` with
``Encoder``/``Decoder`` of ``taming/modules/diffusionmodules/model.py`` and
``VectorQuantizer2`` of ``taming/modules/vqvae/quantize.py``), inside the Lightning
checkpoint's ``state_dict``::

    encoder.conv_in.{weight,bias}
    encoder.down.{level}.block.{i}.{norm1,conv1,norm2,conv2,nin_shortcut}.{weight,bias}
    encoder.down.{level}.attn.{i}.{norm,q,k,v,proj_out}.{weight,bias}      (levels with attention)
    encoder.down.{level}.downsample.conv.{weight,bias}                      (all but the last level)
    encoder.mid.{block_1,attn_1,block_2}.*   encoder.norm_out.*   encoder.conv_out.*
    decoder.conv_in.*   decoder.mid.{block_1,attn_1,block_2}.*
    decoder.up.{level}.block.{i}.*  (num_res_blocks + 1 per level)
    decoder.up.{level}.attn.{i}.*   decoder.up.{level}.upsample.conv.*     (all but level 0)
    decoder.norm_out.*   decoder.conv_out.*
    quant_conv.{weight,bias}   post_quant_conv.{weight,bias}   quantize.embedding.weight
    loss.*   (discriminator and LPIPS of the training loss: not part of the generator, ignored)

``nin_shortcut`` exists where a block changes its channel count. Normalisation is GroupNorm
with 32 groups (eps 1e-6), activations are swish, attention is single-head over all positions.
The ImageNet f16 models (16384 and 1024 codes) use ``ch=128, ch_mult=(1,1,2,2,4),
num_res_blocks=2, attn_resolutions=[16], resolution=256, z_channels=256, embed_dim=256``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pixengine import ConfigError

NORM_GROUPS = 32  # fixed by the architecture (taming's Normalize); channel counts must divide by it


@dataclass(frozen=True)
class VQGANConfig:
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    #: Indices of the levels (0 = full resolution) whose blocks are followed by attention.
    attn_levels: tuple[int, ...] = (4,)
    z_channels: int = 256
    embed_dim: int = 256
    n_embed: int = 16384
    in_channels: int = 3
    out_ch: int = 3
    double_z: bool = False

    @classmethod
    def from_taming(cls, *, ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels, embed_dim, n_embed, **rest):
        """The config from taming's YAML terms (attention given by resolution, not level)."""
        levels = tuple(i for i in range(len(ch_mult)) if resolution // 2**i in attn_resolutions)
        return cls(ch=ch, ch_mult=tuple(ch_mult), num_res_blocks=num_res_blocks, attn_levels=levels,
                   z_channels=z_channels, embed_dim=embed_dim, n_embed=n_embed, **rest)

    @property
    def factor(self) -> int:
        """Pixels per latent cell along each axis (16 for the f16 models)."""
        return 2 ** (len(self.ch_mult) - 1)


def swish(x: torch.Tensor) -> torch.Tensor:
    return F.silu(x)


def norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(NORM_GROUPS, channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        shortcut = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return shortcut + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions, with 1x1 convolutions as projections."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (proj(y).reshape(b, 1, c, h * w).transpose(-1, -2) for proj in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(c)) v
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # taming pads right and bottom only, so a stride-2 convolution halves even sizes exactly.
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _level(blocks: list[nn.Module], attns: list[nn.Module]) -> nn.Module:
    level = nn.Module()
    level.block = nn.ModuleList(blocks)
    level.attn = nn.ModuleList(attns)
    return level


def _middle(channels: int) -> nn.Module:
    mid = nn.Module()
    mid.block_1 = ResnetBlock(channels, channels)
    mid.attn_1 = AttnBlock(channels)
    mid.block_2 = ResnetBlock(channels, channels)
    return mid


def _run_middle(mid: nn.Module, h: torch.Tensor) -> torch.Tensor:
    return mid.block_2(mid.attn_1(mid.block_1(h)))


def _run_level(level: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """A level's residual blocks, each followed by its attention block where the level has them."""
    for i, block in enumerate(level.block):
        h = block(h)
        if len(level.attn):
            h = level.attn[i](h)
    return h


class Encoder(nn.Module):
    """Image in [-1, 1] -> latent grid (z_channels, H / factor, W / factor)."""

    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        ch, mult = cfg.ch, cfg.ch_mult
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        block_in = ch
        for i, m in enumerate(mult):
            block_out = ch * m
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if i in cfg.attn_levels:
                    attns.append(AttnBlock(block_in))
            level = _level(blocks, attns)
            if i != len(mult) - 1:
                level.downsample = Downsample(block_in)
            self.down.append(level)
        self.mid = _middle(block_in)
        self.norm_out = norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * cfg.z_channels if cfg.double_z else cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = _run_level(level, h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = _run_middle(self.mid, h)
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent grid (z_channels, h, w) -> image (out_ch, h * factor, w * factor), about [-1, 1]."""

    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        ch, mult = cfg.ch, cfg.ch_mult
        block_in = ch * mult[-1]
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, padding=1)
        self.mid = _middle(block_in)
        levels: list[nn.Module] = []
        for i in reversed(range(len(mult))):
            block_out = ch * mult[i]
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if i in cfg.attn_levels:
                    attns.append(AttnBlock(block_in))
            level = _level(blocks, attns)
            if i != 0:
                level.upsample = Upsample(block_in)
            levels.insert(0, level)  # indexed by level, as in the checkpoint
        self.up = nn.ModuleList(levels)
        self.norm_out = norm(block_in)
        self.conv_out = nn.Conv2d(block_in, cfg.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = _run_middle(self.mid, self.conv_in(z))
        for level in reversed(self.up):
            h = _run_level(level, h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Snaps each latent vector to its nearest codebook entry (Euclidean)."""

    def __init__(self, n_embed: int, embed_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) -> (B, H, W) indices of the nearest codes."""
        flat = z.movedim(1, -1).reshape(-1, z.shape[1])
        codes = self.embedding.weight
        distance = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codes.T + codes.pow(2).sum(1)
        return distance.argmin(1).reshape(z.shape[0], *z.shape[2:])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, H, W) indices -> (B, D, H, W) code vectors."""
        return self.embedding(indices).movedim(-1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The snapped latent, with the straight-through gradient: the forward value is the
        code vector, the gradient flows to ``z`` as if the snap were the identity."""
        with torch.no_grad():
            snapped = self.lookup(self.indices(z))
        return snapped + (z - z.detach())  # exactly the codes forward, identity backward


class VQGAN(nn.Module):
    """taming's ``VQModel`` without its training loss: the modules and names of the checkpoint."""

    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantize = VectorQuantizer(cfg.n_embed, cfg.embed_dim)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.embed_dim, cfg.z_channels, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image in [-1, 1] -> continuous latent (embed_dim channels), before quantisation."""
        h = self.encoder(x)
        if self.config.double_z:  # mean of a (mean, logvar) pair; not used by the VQGAN configs
            h = h[:, : self.config.z_channels]
        return self.quant_conv(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (embed_dim channels) -> image, about [-1, 1]."""
        return self.decoder(self.post_quant_conv(z))


def config_from_state_dict(state: dict[str, torch.Tensor]) -> VQGANConfig:
    """The architecture of a checkpoint, read from its tensors' names and shapes."""

    def tensor(key: str) -> torch.Tensor:
        if key not in state:
            raise ConfigError(f"not a taming-transformers VQGAN checkpoint: it has no '{key}' (see the README's key layout)", key="path")
        return state[key]

    ch = tensor("encoder.conv_in.weight").shape[0]
    codebook = tensor("quantize.embedding.weight")
    levels = sorted({int(k.split(".")[2]) for k in state if k.startswith("decoder.up.")})
    if not levels:
        raise ConfigError("not a taming-transformers VQGAN checkpoint: it has no 'decoder.up.*' keys", key="path")
    ch_mult = tuple(tensor(f"decoder.up.{i}.block.0.conv1.weight").shape[0] // ch for i in range(len(levels)))
    blocks = {int(k.split(".")[4]) for k in state if k.startswith("decoder.up.0.block.")}
    z_channels = tensor("decoder.conv_in.weight").shape[1]
    return VQGANConfig(
        ch=ch,
        ch_mult=ch_mult,
        num_res_blocks=len(blocks) - 1,
        attn_levels=tuple(i for i in levels if f"decoder.up.{i}.attn.0.q.weight" in state),
        z_channels=z_channels,
        embed_dim=codebook.shape[1],
        n_embed=codebook.shape[0],
        in_channels=tensor("encoder.conv_in.weight").shape[1],
        out_ch=tensor("decoder.conv_out.weight").shape[0],
        double_z=tensor("encoder.conv_out.weight").shape[0] == 2 * z_channels,
    )
