"""Tiny generators of the real architectures, saved in the published checkpoint layouts, for
the GAN tests. They are loaded back through the same loaders as real weights."""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import torch
from omegaconf import OmegaConf

from pixengine.context import RunContext
from pixengine_plugins.gan import stylegan2, vqgan

# f = 4 (three levels), attention at the lowest level like the f16 models; channel counts are
# multiples of 32 because the architecture's GroupNorm has 32 groups.
TINY_VQGAN = vqgan.VQGANConfig(ch=32, ch_mult=(1, 1, 2), num_res_blocks=1, attn_levels=(2,), z_channels=8, embed_dim=8, n_embed=16)
TINY_STYLEGAN2 = stylegan2.StyleGAN2Config(size=16, style_dim=16, n_mlp=2, channels=(16, 16, 8))


def tiny_vqgan(seed: int = 0) -> vqgan.VQGAN:
    torch.manual_seed(seed)
    net = vqgan.VQGAN(TINY_VQGAN)
    return net.eval()


def tiny_stylegan2(seed: int = 0) -> stylegan2.Generator:
    torch.manual_seed(seed)
    net = stylegan2.Generator(TINY_STYLEGAN2)
    with torch.no_grad():  # non-zero noise strengths and biases, as a trained network has
        for name, p in net.named_parameters():
            if name.endswith("noise.weight") or name.endswith("activate.bias"):
                p.normal_(0, 0.1)
    return net.eval()


def _fake_lightning_callback_class() -> type:
    """A class that pickles as pytorch_lightning's ModelCheckpoint, as in taming's files."""
    names = ["pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint"]
    for name in names:
        sys.modules.setdefault(name, types.ModuleType(name))
    cls = type("ModelCheckpoint", (), {"__module__": "pytorch_lightning.callbacks.model_checkpoint"})
    sys.modules[names[-1]].ModelCheckpoint = cls
    return cls


def save_vqgan_checkpoint(path: Path, net: vqgan.VQGAN | None = None, *, state: dict | None = None) -> Path:
    """A Lightning-style .ckpt like taming's: {'state_dict': {encoder., decoder., quantize.,
    quant_conv., post_quant_conv., loss.*}, 'callbacks': {ModelCheckpoint: {...}}, ...}."""
    net = net or tiny_vqgan()
    weights = dict(state if state is not None else net.state_dict())
    weights["loss.discriminator.main.0.weight"] = torch.randn(4, 3, 4, 4)
    weights["loss.logvar"] = torch.zeros(())
    callback = _fake_lightning_callback_class()
    try:
        torch.save(
            {"epoch": 3, "global_step": 1000, "pytorch-lightning_version": "1.0.8", "state_dict": weights,
             "callbacks": {callback: {"best_model_score": torch.tensor(0.5), "best_model_path": "last.ckpt"}},
             "optimizer_states": [], "lr_schedulers": []},
            path,
        )
    finally:
        for name in [n for n in sys.modules if n.startswith("pytorch_lightning")]:
            if getattr(sys.modules[name], "__file__", None) is None:  # only the fakes made here
                del sys.modules[name]
    return path


def save_stylegan2_checkpoint(path: Path, net: stylegan2.Generator | None = None, *, training: bool = False, state: dict | None = None) -> Path:
    """{'g_ema': ..., 'latent_avg': ...} like convert_weight.py's files; ``training`` saves the
    train.py layout instead ({'g', 'd', 'g_ema', ..., 'args': Namespace}, no latent_avg)."""
    net = net or tiny_stylegan2()
    weights = state if state is not None else net.state_dict()
    if training:
        data = {"g": weights, "d": {"convs.0.0.weight": torch.randn(4, 3, 1, 1)}, "g_ema": weights, "g_optim": {}, "d_optim": {},
                "args": argparse.Namespace(size=net.config.size, latent=net.config.style_dim), "ada_aug_p": 0.0}
    else:
        generator = torch.Generator().manual_seed(1)
        data = {"g_ema": weights, "latent_avg": net.mean_latent(256, generator)[0]}
    torch.save(data, path)
    return path


def make_ctx(width: int = 32, height: int = 32, models: dict | None = None, steps: int = 10) -> RunContext:
    return RunContext(device=torch.device("cpu"), width=width, height=height, steps=steps, seed=0,
                      config=OmegaConf.create({}), models=dict(models or {}))


def save_image(path: Path, tensor: torch.Tensor) -> Path:
    from pixengine.images import tensor_to_pil

    tensor_to_pil(tensor).save(path)
    return path
