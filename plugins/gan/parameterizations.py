"""The ``vqgan`` and ``stylegan2`` parameterizations: an image is a generator's decoded latent."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pixengine import option

from .latents import GANLatent, LatentOptions
from .models import StyleGAN2Model, VQGANModel
from .ops import fit_to, to_unit_range


@dataclass
class VQGANLatentOptions(LatentOptions):
    model: str = option("vqgan", help="label of a 'vqgan' model in the run's models section")
    quantize: bool = option(True, help="snap the latent to the codebook before decoding (straight-through gradient), as VQGAN+CLIP does")
    clamp_latent: bool = option(True, help="keep each latent channel within the codebook's range (as VQGAN+CLIP does)")


class VQGANLatent(GANLatent):
    """The continuous latent grid of a taming-transformers VQGAN, decoded by its decoder.

    One latent cell covers factor x factor pixels (16 for the f16 models); the grid is rounded up
    to cover the run's size and the decoded image is centre-cropped to it. With ``quantize``
    each cell is snapped to its nearest code on the way to the decoder while the gradient
    reaches the continuous latent unchanged (straight-through). ``init: random`` picks a random
    code per cell; ``init: image`` encodes init_image with the VQGAN's encoder (exact, no
    optimisation needed) and optionally refines it for init_steps.
    """

    name = "vqgan"
    Options = VQGANLatentOptions
    generator_type = VQGANModel

    def __init__(self, options: VQGANLatentOptions, ctx):
        super().__init__(options, ctx)
        codes = self.generator.codebook
        self.register_buffer("latent_min", codes.min(0).values.detach().view(1, -1, 1, 1).clone())
        self.register_buffer("latent_max", codes.max(0).values.detach().view(1, -1, 1, 1).clone())

    @property
    def grid(self) -> tuple[int, int]:
        """Latent cells (rows, columns) covering the run's size."""
        f = self.generator.factor
        return math.ceil(self.ctx.height / f), math.ceil(self.ctx.width / f)

    def sample(self, n: int) -> torch.Tensor:
        gen = self.generator
        indices = torch.randint(gen.config.n_embed, (n, *self.grid), device=gen.codebook.device)
        return gen.net.quantize.lookup(indices)

    def render(self, latents: torch.Tensor) -> torch.Tensor:
        gen = self.generator
        z = gen.quantize(latents) if self.options.quantize else latents
        image = to_unit_range(gen.decode(z))
        return fit_to(image, self.ctx.width, self.ctx.height, crop_margin=gen.factor - 1)

    def inversion_start(self, image: torch.Tensor) -> torch.Tensor:
        gen = self.generator
        size = (self.grid[0] * gen.factor, self.grid[1] * gen.factor)
        if tuple(image.shape[-2:]) != size:
            image = F.interpolate(image, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
        with torch.no_grad():
            return gen.encode(image)

    def before_render(self) -> None:
        if self.options.clamp_latent:
            # Applied to the parameters in place at the start of each step, which is the same as
            # clamping after each optimiser step (VQGAN+CLIP's z_min / z_max).
            with torch.no_grad():
                self.bank.basis.copy_(torch.maximum(torch.minimum(self.bank.basis, self.latent_max), self.latent_min))


@dataclass
class StyleGAN2LatentOptions(LatentOptions):
    model: str = option("stylegan2", help="label of a 'stylegan2' model in the run's models section")
    space: str = option("w+", help="optimise one W for all layers, or one per layer (W+, as StyleCLIP)", choices=["w", "w+"])
    truncation: float = option(
        0.7, help="random and top-k samples start this fraction of the way from the mean latent (StyleCLIP: 0.7)", min=0, max=1
    )
    noise: str = option("fixed", help="per-layer noise: the checkpoint's fixed maps (reproducible), or fresh each step", choices=["fixed", "random"])
    init_lr: float = option(0.1, help="learning rate of the inversion steps (init 'image')", min=0)
    init_steps: int = option(100, help="inversion steps from the mean latent to reproduce init_image (pixel MSE)", min=0)


class StyleGAN2Latent(GANLatent):
    """W or W+ latents of a StyleGAN2 generator (StyleCLIP's latent optimisation).

    ``init: random`` maps a Gaussian z through the mapping network and truncates it towards
    the mean latent; ``init: image`` starts at the mean latent and optimises it for init_steps to
    reproduce init_image. The generator's square output is scaled to cover the run's size.
    Pair with the ``latent_anchor`` loss to stay near the start (StyleCLIP's L2 term).
    """

    name = "stylegan2"
    Options = StyleGAN2LatentOptions
    generator_type = StyleGAN2Model

    def _expand(self, w: torch.Tensor) -> torch.Tensor:
        """W (B, style_dim) in the chosen space: (B, style_dim) or (B, n_latent, style_dim)."""
        if self.options.space == "w":
            return w
        return w[:, None].repeat(1, self.generator.n_latent, 1)

    def sample(self, n: int) -> torch.Tensor:
        gen = self.generator
        mean = gen.latent_avg
        z = torch.randn(n, gen.style_dim, device=mean.device)
        with torch.no_grad():
            w = gen.mapping(z)
        w = mean + self.options.truncation * (w - mean)
        return self._expand(w)

    def render(self, latents: torch.Tensor) -> torch.Tensor:
        image = to_unit_range(self.generator.synthesis(latents, self.options.noise))
        return fit_to(image, self.ctx.width, self.ctx.height)

    def inversion_start(self, image: torch.Tensor) -> torch.Tensor:
        return self._expand(self.generator.latent_avg.clone())
