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


#: Images larger than this are refused as decompression bombs (a few kilobytes of PNG can
#: describe gigabytes of pixels): Pillow's own refusal threshold, without its raw warning
#: below it; images under it are decoded reduced to the size a run needs.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS

#: How each mode's values map to [0, 1] when it is not 8-bit (Pillow's convert("RGB") clips
#: 16-bit greyscale to white).
_WIDE_RANGES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0, "I": 65535.0, "F": 1.0}


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file, read from its header only."""
    with _opened(path) as img:
        return img.size


def _opened(path: str | Path):
    """The image file opened lazily (pixels not decoded), bombs and non-images refused."""
    import warnings

    resolved = resolve_path(path)
    if resolved.is_dir():
        raise ConfigError(f"'{path}' is a folder, not an image file")
    if not resolved.is_file():
        raise ConfigError(f"image file '{path}' not found (looked at {resolved.absolute()})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below, by our own limit
            img = Image.open(resolved)
    except Image.DecompressionBombError:
        raise ConfigError(f"'{path}' has more than {MAX_PIXELS} pixels: refused as a decompression bomb") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ConfigError(f"'{path}' is not a readable image: {exc}") from None
    width, height = img.size
    if width * height > MAX_PIXELS:
        img.close()
        raise ConfigError(
            f"'{path}' is {width}x{height} ({width * height / 1e6:.0f} megapixels), more than the {MAX_PIXELS / 1e6:.0f} "
            "megapixels pixengine reads: refused as a possible decompression bomb; downscale it first"
        )
    return img


def read_image(path: str | Path, needed: tuple[int, int] | None = None) -> np.ndarray:
    """An image file as an (H, W, 3) float32 array in [0, 1], whatever its mode.

    Greyscale, palette, CMYK and 1-bit images become RGB; 16-bit and 32-bit greyscale keep
    their range (I;16 and I over 65535, F as 0..1); images with alpha are composited over
    white, as they show on a page. With ``needed`` = (width, height), a much larger image is
    decoded at a reduced size (JPEG's draft mode, else Pillow's reduce) keeping at least twice
    the resolution needed, so a huge photo costs little memory for a small run."""
    with _opened(path) as img:
        factor = _reduction(img.size, needed)
        try:
            if factor > 1 and img.format == "JPEG":
                img.draft("RGB", (img.width // factor, img.height // factor))
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                img = img.convert("I")  # 32-bit integers keep the 16-bit values (and reduce works on them)
            factor = _reduction(img.size, needed)  # what is left after JPEG's draft
            if factor > 1:
                img = img.reduce(factor)
            return _to_rgb_array(img)
        except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data
            raise ConfigError(f"'{path}' is not a readable image: {exc}") from None


def _reduction(size: tuple[int, int], needed: tuple[int, int] | None) -> int:
    if not needed:
        return 1
    ratio = min(size[0] / max(needed[0], 1), size[1] / max(needed[1], 1))
    return max(1, int(ratio // 2))


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    if img.mode in _WIDE_RANGES:
        grey = np.asarray(img, dtype=np.float32) / _WIDE_RANGES[img.mode]
        return np.repeat(np.clip(grey, 0.0, 1.0)[..., None], 3, axis=2)
    if img.mode in ("LA", "La", "PA", "RGBA", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def open_image(path: str | Path) -> Image.Image:
    """An image file as an 8-bit RGB PIL image (see :func:`read_image` for the modes)."""
    return Image.fromarray(np.round(read_image(path) * 255).astype(np.uint8), "RGB")


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1]."""
    return array_to_tensor(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)


def array_to_tensor(array: np.ndarray) -> torch.Tensor:
    """(H, W, 3) in [0, 1] -> (1, 3, H, W) float32."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0).contiguous()


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
    tensor = array_to_tensor(read_image(path, size))
    if size is not None:
        tensor = fit_tensor(tensor, size[0], size[1], fit)
    return tensor
