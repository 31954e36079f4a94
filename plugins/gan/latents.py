"""What GAN-latent parameterizations share: the optimised latent (one, or a softmax mixture of
several), the start strategies, and the latent interface the ``latent_anchor`` loss reads.

A subclass supplies the generator-specific parts: ``sample(n)``, ``render(latents)`` and
``inversion_start(image)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

import pixengine
from pixengine import ConfigError, option

from .init_strategies import TopK, invert, top_k

INITS = ["random", "image", "topk"]


class LatentBank(nn.Module):
    """The optimised latent: ``basis`` (k, ...) and, for a mixture, ``logits`` (k, ...).

    Without logits the latent is the single basis row. With them it is FuseDream's
    over-parameterisation: a per-element softmax over the k rows weights them, and both the rows
    and the weights are optimised."""

    def __init__(self, basis: torch.Tensor, logits: torch.Tensor | None = None):
        super().__init__()
        if logits is None and basis.shape[0] != 1:
            raise ValueError("a latent without mixture logits has exactly one row")
        self.basis = nn.Parameter(basis.detach().clone())
        self.logits = nn.Parameter(logits.detach().clone()) if logits is not None else None

    def forward(self) -> torch.Tensor:
        if self.logits is None:
            return self.basis
        return (torch.softmax(self.logits, dim=0) * self.basis).sum(0, keepdim=True)


@dataclass
class LatentOptions:
    """Options every GAN-latent parameterization has (subclasses set ``model``'s default)."""

    model: str = option("generator", help="label of the generator in the run's models section")
    init: str = option(
        "random",
        help="start from a random sample, from init_image (inverted), or from the best of topk_samples scored by the run's losses (FuseDream)",
        choices=INITS,
    )
    init_image: Optional[str] = option(None, help="image to start from when init is 'image'", file="image")
    init_steps: int = option(0, help="optimisation steps that refine the start to reproduce init_image (pixel MSE)", min=0)
    init_lr: float = option(0.05, help="learning rate of those refinement steps", min=0)
    topk_samples: int = option(64, help="random latents scored when init is 'topk' (FuseDream used thousands on a GPU)", min=1)
    topk: int = option(5, help="how many of the best samples to keep when init is 'topk'", min=1)
    topk_batch: int = option(8, help="samples decoded and scored at once", min=1)
    topk_mixture: bool = option(
        True, help="optimise a softmax-weighted mixture of the topk best (FuseDream); false starts from the single best"
    )

    def __post_init__(self):
        if self.init == "image" and not self.init_image:
            raise ValueError("init 'image' needs init_image (the image file to start from)")
        if self.init == "topk" and self.topk > self.topk_samples:
            raise ValueError(f"topk ({self.topk}) cannot exceed topk_samples ({self.topk_samples})")


class GANLatent(pixengine.Parameterization):
    """Base of parameterizations that optimise a pretrained generator's latent."""

    #: The model class this parameterization decodes with (checked against ``model``).
    generator_type: type = pixengine.Model

    def __init__(self, options: LatentOptions, ctx):
        super().__init__(options, ctx)
        generator = ctx.model(options.model)
        if not isinstance(generator, self.generator_type):
            raise ConfigError(
                f"model '{options.model}' is a '{getattr(generator, 'name', type(generator).__name__)}' model; "
                f"parameterization '{self.name}' needs a '{self.generator_type.name}' model",
                key="model",
            )
        # The generator is one of the run's shared, frozen models: keep a plain reference so it
        # is not registered as a submodule (its weights are neither parameters nor state here).
        object.__setattr__(self, "generator", generator)
        self.topk_result: TopK | None = None
        self._start_image = None
        if options.init == "image":
            self._start_image = ctx.load_image(options.init_image, option="init_image")
            start = self.inversion_start(self._start_image)
            start = invert(start, self.render, self._start_image, options.init_steps, options.init_lr)
        else:
            # Random; for top-k a placeholder until initialize() has the run's losses.
            start = self.sample(1)
        self.bank = LatentBank(start)
        self.register_buffer("start_latent", start.detach().clone())

    # -- what subclasses provide ----------------------------------------------------------

    def sample(self, n: int) -> torch.Tensor:  # pragma: no cover - abstract
        """``n`` random latents, (n, ...)."""
        raise NotImplementedError

    def render(self, latents: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Latents (B, ...) -> images (B, 3, ctx.height, ctx.width) in [0, 1]."""
        raise NotImplementedError

    def inversion_start(self, image: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The latent (1, ...) from which inversion of ``image`` starts."""
        raise NotImplementedError

    def before_render(self) -> None:
        """Called at each forward before rendering (e.g. to keep the latent in range)."""

    # -- the latent interface -------------------------------------------------------------

    def latent(self) -> torch.Tensor:
        """The current latent (1, ...), differentiable with respect to the parameters."""
        return self.bank()

    def forward(self) -> torch.Tensor:
        self.before_render()
        return self.render(self.latent())

    def param_groups(self) -> list[dict]:
        groups = [{"name": "latent", "params": [self.bank.basis]}]
        if self.bank.logits is not None:
            groups.append({"name": "mixture", "params": [self.bank.logits]})
        return groups

    def references(self):
        return {"init image": self._start_image} if self._start_image is not None else {}

    def initialize(self, score) -> None:
        options = self.options
        if options.init != "topk":
            return
        result = top_k(self.sample, self.render, score, options.topk_samples, options.topk, options.topk_batch)
        self.topk_result = result
        best = result.best
        if options.topk_mixture and best.shape[0] > 1:
            # FuseDream starts the mixing weights at random normal logits.
            logits = torch.randn(best.shape, device=best.device, dtype=best.dtype)
            self.bank = LatentBank(best, logits)
        else:
            self.bank = LatentBank(best[:1])
        with torch.no_grad():
            self.start_latent = self.bank().detach().clone()
