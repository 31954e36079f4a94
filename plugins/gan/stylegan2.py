"""The StyleGAN2 generator (Karras et al. 2020) in the layout of the widely used PyTorch port
(rosinality/stylegan2-pytorch, ``model.py`` ``Generator``), so its checkpoints load by key name.

Key layout matched (the ``g_ema`` state dict of a checkpoint; ``latent_avg`` beside it)::

    style.{1..n_mlp}.{weight,bias}                mapping network (style.0 is PixelNorm)
    input.input                                   (1, C4, 4, 4) learned constant
    conv1.conv.{weight,modulation.weight,modulation.bias}  conv1.noise.weight  conv1.activate.bias
    to_rgb1.conv.{weight,modulation.*}  to_rgb1.bias
    convs.{2i}.conv.blur.kernel  convs.{2i}.*      upsampling styled conv of resolution 2^(i+3)
    convs.{2i+1}.*                                 styled conv at that resolution
    to_rgbs.{i}.upsample.kernel  to_rgbs.{i}.conv.*  to_rgbs.{i}.bias
    noises.noise_{j}                               fixed per-layer noise, (1, 1, r, r)

Shapes: ``style.k.weight`` (style_dim, style_dim); modulated conv weights (1, out, in, k, k);
``modulation`` maps style_dim -> in channels. Equalised learning rate: weights are stored
unscaled and multiplied by 1/sqrt(fan_in) (times ``lr_mlp`` = 0.01 in the mapping network) at
run time, so ``lr_mlp`` is not in the file and is an option of the model. The published configs
use channels 512 up to 32 px, then 256·m, 128·m, 64·m, 32·m, 16·m at 64...1024 px (m, the
channel multiplier, is 2 for config-f).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pixengine import ConfigError

from .ops import blur_kernel, fused_leaky_relu, upfirdn2d

BLUR = (1.0, 3.0, 3.0, 1.0)


def published_channels(size: int, channel_multiplier: int = 2) -> tuple[int, ...]:
    """Channels at 4, 8, ... ``size`` pixels in the published configurations."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return tuple(table[2**i] for i in range(2, int(math.log2(size)) + 1))


@dataclass(frozen=True)
class StyleGAN2Config:
    size: int = 1024
    style_dim: int = 512
    n_mlp: int = 8
    #: Channels at each resolution, 4 px first.
    channels: tuple[int, ...] = published_channels(1024)
    lr_mlp: float = 0.01

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def n_latent(self) -> int:
        """Rows of a W+ latent: one style per modulated layer and per to-RGB."""
        return self.log_size * 2 - 2

    @property
    def num_layers(self) -> int:
        """Noise inputs: one per styled convolution."""
        return (self.log_size - 2) * 2 + 1


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """A linear layer with StyleGAN's equalised learning rate."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Blur(nn.Module):
    def __init__(self, pad: tuple[int, int], gain: float = 1.0):
        super().__init__()
        self.register_buffer("kernel", blur_kernel(BLUR, gain))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x upsampling with the blur kernel (the to-RGB skip path)."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.register_buffer("kernel", blur_kernel(BLUR, factor**2))
        p = len(BLUR) - factor
        self.factor = factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """A convolution whose input channels are scaled per sample by the style, and whose output
    is renormalised (demodulated) to unit variance.

    Computed as modulate-input -> shared-weight convolution -> scale-output, which equals the
    per-sample-weight grouped convolution of the reference code and batches naturally."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, demodulate: bool = True, upsample: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.demodulate = demodulate
        self.upsample = upsample
        if upsample:
            factor = 2
            p = (len(BLUR) - factor) - (kernel_size - 1)
            self.blur = Blur(((p + 1) // 2 + factor - 1, p // 2 + 1), gain=factor**2)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        weight = self.weight[0] * self.scale  # (out, in, k, k)
        s = self.modulation(style)  # (B, in)
        x = x * s.view(b, -1, 1, 1)
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            # 1 / ||w_o * s||: the per-sample, per-output-channel norm of the modulated weight.
            demod = torch.rsqrt(torch.einsum("oikl,bi->bo", weight.pow(2), s.pow(2)) + 1e-8)
            out = out * demod.view(b, -1, 1, 1)
        return out


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, *x.shape[2:]).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    def __init__(self, in_channel: int, out_channel: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True):
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        return out if skip is None else out + self.upsample(skip)


class Generator(nn.Module):
    """Mapping network (``style``) and synthesis network, named as in the checkpoints."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        if len(cfg.channels) != cfg.log_size - 1:
            raise ValueError(f"a {cfg.size} px generator needs {cfg.log_size - 1} channel counts, got {len(cfg.channels)}")
        self.config = cfg
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(cfg.style_dim, cfg.style_dim, lr_mul=cfg.lr_mlp, activate=True) for _ in range(cfg.n_mlp)])
        ch = cfg.channels
        self.input = ConstantInput(ch[0])
        self.conv1 = StyledConv(ch[0], ch[0], cfg.style_dim)
        self.to_rgb1 = ToRGB(ch[0], cfg.style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for in_channel, out_channel in zip(ch[:-1], ch[1:]):
            self.convs.append(StyledConv(in_channel, out_channel, cfg.style_dim, upsample=True))
            self.convs.append(StyledConv(out_channel, out_channel, cfg.style_dim))
            self.to_rgbs.append(ToRGB(out_channel, cfg.style_dim))
        self.noises = nn.Module()
        for j in range(cfg.num_layers):
            side = 2 ** ((j + 5) // 2)
            self.noises.register_buffer(f"noise_{j}", torch.randn(1, 1, side, side))

    @property
    def n_latent(self) -> int:
        return self.config.n_latent

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Gaussian z (B, style_dim) -> W (B, style_dim)."""
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """The mean W of ``n`` random z, (1, style_dim) (used when a checkpoint has no latent_avg)."""
        device = self.input.input.device
        z = torch.randn(n, self.config.style_dim, generator=generator, device="cpu").to(device)
        return self.mapping(z).mean(0, keepdim=True)

    def synthesis(self, latent: torch.Tensor, noise: str = "fixed") -> torch.Tensor:
        """W+ latent (B, n_latent, style_dim) -> image (B, 3, size, size), about [-1, 1].
        ``noise``: "fixed" uses the checkpoint's noise buffers (reproducible), "random" draws new."""
        if latent.ndim == 2:
            latent = latent[:, None].expand(-1, self.n_latent, -1)
        noises = [getattr(self.noises, f"noise_{j}") if noise == "fixed" else None for j in range(self.config.num_layers)]
        out = self.input(latent.shape[0])
        out = self.conv1(out, latent[:, 0], noises[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for up_conv, conv, to_rgb, n1, n2 in zip(self.convs[::2], self.convs[1::2], self.to_rgbs, noises[1::2], noises[2::2]):
            out = up_conv(out, latent[:, i], n1)
            out = conv(out, latent[:, i + 1], n2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip


#: Buffers that are derived from the architecture alone (blur kernels), or that a checkpoint may
#: omit and the generator can draw itself (noise): missing ones are not an error.
def derived_buffer(key: str) -> bool:
    return key.endswith(".blur.kernel") or key.endswith(".upsample.kernel") or key.startswith("noises.noise_")


def config_from_state_dict(state: dict[str, torch.Tensor], lr_mlp: float = 0.01) -> StyleGAN2Config:
    """The architecture of a ``g_ema`` state dict, read from its tensors' names and shapes."""

    def tensor(key: str) -> torch.Tensor:
        if key not in state:
            raise ConfigError(f"not a StyleGAN2 (rosinality layout) generator: it has no '{key}' (see the README's key layout)", key="path")
        return state[key]

    mapping = sorted(int(k.split(".")[1]) for k in state if k.startswith("style.") and k.endswith(".weight"))
    rgbs = {int(k.split(".")[1]) for k in state if k.startswith("to_rgbs.")}
    channels = [tensor("input.input").shape[1]]
    channels += [tensor(f"convs.{2 * i}.conv.weight").shape[1] for i in range(len(rgbs))]
    return StyleGAN2Config(
        size=2 ** (len(rgbs) + 2),
        style_dim=tensor("style.1.weight").shape[0],
        n_mlp=len(mapping),
        channels=tuple(channels),
        lr_mlp=lr_mlp,
    )
