"""GAN latents: optimise the latent of a pretrained generator so images stay on its manifold
(VQGAN+CLIP, StyleCLIP, FuseDream).

Components:
    models            vqgan, stylegan2          (published checkpoints, architecture read from the file)
    parameterizations vqgan, stylegan2          (init: random | image | topk)
    losses            latent_anchor             (StyleCLIP's L2 to the starting latent)

Modules: ``vqgan`` and ``stylegan2`` are the networks (plain torch, checkpoint key names),
``ops`` StyleGAN2's custom ops in torch, ``checkpoints`` safe reading and key checks,
``models`` the model plugins, ``init_strategies`` the start strategies, ``latents`` and
``parameterizations`` the parameterizations, ``losses`` the anchor.
"""

from __future__ import annotations

import pixengine

from .losses import LatentAnchor
from .models import StyleGAN2Model, VQGANModel
from .parameterizations import StyleGAN2Latent, VQGANLatent


@pixengine.hookimpl
def register_models(register):
    register(VQGANModel)
    register(StyleGAN2Model)


@pixengine.hookimpl
def register_parameterizations(register):
    register(VQGANLatent)
    register(StyleGAN2Latent)


@pixengine.hookimpl
def register_losses(register):
    register(LatentAnchor)
