"""Image files to tensors and back, and the path forms presets may use.

Paths in presets may be absolute, relative to the working directory, or ``pkg:PACKAGE/PATH``
for a file shipped inside an installed package (``pkg:pixengine_presets/assets/chelsea.png``),
which keeps shared configs portable between machines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .errors import ConfigError
from .resources import PACKAGE_SCHEME, resolve_path  # noqa: F401 - part of this module's API

FITS = ("cover", "contain", "stretch")


def open_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB, with a ConfigError naming the file when that fails."""
    resolved = resolve_path(path)
    if not resolved.is_file():
        raise ConfigError(f"image file '{path}' not found (looked at {resolved.absolute()})")
    try:
        with Image.open(resolved) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ConfigError(f"'{path}' is not a readable image: {exc}") from None


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1]."""
    array = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """The first image of a (B, 3, H, W) or (3, H, W) tensor in [0, 1] as an 8-bit RGB image."""
    if image.dim() == 4:
        image = image[0]
    array = image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, "RGB")


def fit_tensor(image: torch.Tensor, width: int, height: int, fit: str = "cover") -> torch.Tensor:
    """Resize (B, C, H, W) to (height, width): ``cover`` crops the centre to keep the aspect,
    ``contain`` pads with the mean colour, ``stretch`` ignores the aspect."""
    if fit not in FITS:
        raise ConfigError(f"fit must be one of {', '.join(FITS)}, got '{fit}'")
    _, _, h, w = image.shape
    if (h, w) == (height, width):
        return image
    if fit == "stretch":
        return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    scale = max(width / w, height / h) if fit == "cover" else min(width / w, height / h)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = F.interpolate(image, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    if fit == "cover":
        top, left = (new_h - height) // 2, (new_w - width) // 2
        return resized[:, :, top : top + height, left : left + width]
    canvas = image.mean(dim=(2, 3), keepdim=True).expand(image.shape[0], image.shape[1], height, width).clone()
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[:, :, top : top + new_h, left : left + new_w] = resized
    return canvas


def load_image(path: str | Path, size: tuple[int, int] | None = None, fit: str = "cover") -> torch.Tensor:
    """An image file as a (1, 3, H, W) tensor in [0, 1], resized to ``size`` = (width, height)."""
    tensor = pil_to_tensor(open_image(path))
    if size is not None:
        tensor = fit_tensor(tensor, size[0], size[1], fit)
    return tensor
