"""Small tensor operations the generators need, in plain torch (no CUDA extensions).

StyleGAN2's reference code ships two custom CUDA kernels, ``fused_bias_act`` and
``upfirdn2d``. Neither is in torch or kornia with StyleGAN's exact padding semantics, so they
are written here as compositions of ordinary torch ops: slower than the fused kernels, but
they run on any device and autograd differentiates them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pixengine.images import fit_tensor

SQRT2 = math.sqrt(2.0)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None = None, negative_slope: float = 0.2, scale: float = SQRT2) -> torch.Tensor:
    """StyleGAN2's biased leaky ReLU: ``leaky_relu(x + bias) * scale``; the bias is per channel
    (dim 1) and the gain sqrt(2) keeps the activations' variance."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, negative_slope) * scale


def blur_kernel(taps: list[float] | tuple[float, ...], gain: float = 1.0) -> torch.Tensor:
    """A separable 2-D FIR kernel from 1-D taps, normalised to sum to ``gain``."""
    k = torch.tensor(taps, dtype=torch.float32)
    if k.ndim == 1:
        k = k[:, None] * k[None, :]
    return k / k.sum() * gain


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with ``kernel`` (a true convolution, i.e. the
    kernel is flipped), then keep every ``down``-th pixel: the operation of StyleGAN2's
    ``upfirdn2d`` kernel. ``pad`` is (before, after), the same on both axes; negative values crop.
    """
    b, c, h, w = x.shape
    if up > 1:
        # Interleave zeros: view each pixel as a 1x1 block and pad it to up x up.
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    if p0 or p1:
        x = F.pad(x, (p0, p1, p0, p1))
    weight = torch.flip(kernel, (0, 1)).to(x)[None, None].expand(c, 1, *kernel.shape)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


class _ClampWithGrad(torch.autograd.Function):
    """Clamp in the forward pass; in the backward pass let through the gradient wherever
    following it would move the value back into range (as VQGAN+CLIP does). A plain clamp
    would stop all gradient at out-of-range pixels, which a generator produces often."""

    @staticmethod
    def forward(ctx, x, low, high):
        ctx.low, ctx.high = low, high
        ctx.save_for_backward(x)
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # A descent step moves x by -grad: keep grad unless that pushes x further outside.
        outside = x - x.clamp(ctx.low, ctx.high)
        return grad * (grad * outside >= 0), None, None


def clamp_with_grad(x: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return _ClampWithGrad.apply(x, low, high)


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """A generator's [-1, 1] output as an image in [0, 1]."""
    return clamp_with_grad(x.add(1).div(2), 0.0, 1.0)


def fit_to(image: torch.Tensor, width: int, height: int, crop_margin: int = 0) -> torch.Tensor:
    """``image`` at exactly (height, width). When it is larger by at most ``crop_margin`` pixels
    on each axis (a decoder's output rounded up to whole latent cells) it is centre-cropped;
    otherwise it is scaled to cover the size and centre-cropped (pixengine's ``cover`` fit)."""
    h, w = image.shape[-2:]
    if (h, w) == (height, width):
        return image
    if 0 <= h - height <= crop_margin and 0 <= w - width <= crop_margin:
        top, left = (h - height) // 2, (w - width) // 2
        return image[..., top : top + height, left : left + width]
    return fit_tensor(image, width, height, "cover")
