"""Colour helpers shared by parameterizations.

Decorrelated colour: optimising in a colour basis whose axes are uncorrelated over natural
images (the square root of ImageNet's RGB covariance, as used by Lucid and aphantasia) spreads
the optimiser's steps evenly over luminance and chroma, which gives cleaner colours than
optimising R, G and B directly. kornia has no such transform, hence these few lines.
"""

from __future__ import annotations

import torch

# Square root of the RGB covariance of ImageNet pixels, by SVD (Olah et al., Lucid).
_CORRELATION_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float32
)
_MAX_NORM = _CORRELATION_SQRT.norm(dim=0).max()
DECORRELATE = _CORRELATION_SQRT / _MAX_NORM


def decorrelated_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in the decorrelated basis -> unbounded RGB (before the output mapping)."""
    matrix = DECORRELATE.to(x.device, x.dtype)
    return torch.einsum("ij,bjhw->bihw", matrix, x)


def rgb_to_decorrelated(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`decorrelated_to_rgb`."""
    inverse = torch.linalg.inv(DECORRELATE.double()).to(x.device, x.dtype)
    return torch.einsum("ij,bjhw->bihw", inverse, x)


def logit(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Inverse of the sigmoid, clamped so images with pure black/white stay finite."""
    x = x.clamp(eps, 1 - eps)
    return torch.log(x) - torch.log1p(-x)
