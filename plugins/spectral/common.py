"""What the ``fft`` and ``dwt`` parameterizations share.

Both store the image as a field of logits in a colour basis (decorrelated or RGB), expressed in
a spectral basis whose coefficients are scaled by ``1 / frequency ** decay``: coarse structure
gets large steps, fine detail small ones, so the optimiser paints smooth, coherent images
instead of pixel noise. The field becomes RGB through the colour basis and a sigmoid, so every
image is in [0, 1]. Scales are normalised so that unit-variance coefficients give a field of
unit variance per pixel, which makes ``init_noise`` a standard deviation in logit units for
any size, decay or basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

import pixengine
from pixengine import option
from pixengine.color import decorrelated_to_rgb, logit, rgb_to_decorrelated

#: Starting noise when there is no init_image (with one, the default is none, so the first
#: frame is that image).
DEFAULT_NOISE = 1.0


@dataclass
class SpectralOptions:
    init_image: Optional[str] = option(
        None,
        help="image file to start from; its forward transform is the starting point, so the first frame is that image",
        file="image",
    )
    init_noise: Optional[float] = option(
        None,
        help=f"std of the starting noise in logit units, spread over scales by the decay "
        f"(default: {DEFAULT_NOISE} without init_image, 0 with one)",
        min=0,
    )
    decay: float = option(
        1.5, help="coefficients at frequency f are scaled by 1/f^decay: higher is smoother, 0 is white like pixels", min=0, max=4
    )
    colorspace: str = option(
        "decorrelated", help="the colour basis of the field: decorrelated gives cleaner colours", choices=["decorrelated", "rgb"]
    )
    tile: bool = option(False, help="seamless tiling: the image wraps around, so copies side by side show no seam")


class SpectralParameterization(pixengine.Parameterization):
    """Base of the spectral parameterizations. A subclass implements ``_setup(width, height)``
    (coefficient shapes and scales for a size), ``_field()`` (the logit field, (1, 3, H, W)),
    ``_encode(field)`` (set the coefficients so that ``_field()`` returns ``field``) and
    ``resize``."""

    supports_resize = True

    def __init__(self, options: SpectralOptions, ctx):
        super().__init__(options, ctx)
        self.width, self.height = ctx.width, ctx.height
        self._check_sizes(self._planned_sizes(ctx))
        self._start = ctx.load_image(options.init_image, option="init_image") if options.init_image else None
        self._setup(self.width, self.height)
        if self._start is not None:
            field = self.image_to_field(self._start)
        else:
            field = torch.zeros(1, 3, self.height, self.width, device=ctx.device, dtype=ctx.dtype)
        self._encode(field)
        noise = options.init_noise if options.init_noise is not None else (0.0 if self._start is not None else DEFAULT_NOISE)
        if noise:
            with torch.no_grad():
                self._add_noise(noise)

    # -- for subclasses ---------------------------------------------------------------------

    def _setup(self, width: int, height: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _field(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode(self, field: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_sizes(self, sizes: list[tuple[int, int]]) -> None:
        """Raise ConfigError when the options cannot work at one of these (width, height)."""

    def _add_noise(self, std: float) -> None:
        for p in self.parameters():
            p.add_(std * torch.randn(p.shape, device=p.device, dtype=p.dtype))

    # -- shared -----------------------------------------------------------------------------

    @staticmethod
    def _planned_sizes(ctx) -> list[tuple[int, int]]:
        """The run's size and every size its ``grow`` schedule will resize to."""
        sizes = [(ctx.width, ctx.height)]
        config = getattr(ctx, "config", None)
        for change in (config.get("grow") if config is not None else None) or []:
            sizes.append((int(change["width"]), int(change["height"])))
        return sizes

    def image_to_field(self, image: torch.Tensor) -> torch.Tensor:
        """The logit field whose image (forward()) is ``image``, (1, 3, H, W) in [0, 1]."""
        field = logit(image)
        return rgb_to_decorrelated(field) if self.options.colorspace == "decorrelated" else field

    def field_to_image(self, field: torch.Tensor) -> torch.Tensor:
        if self.options.colorspace == "decorrelated":
            field = decorrelated_to_rgb(field)
        return torch.sigmoid(field)

    def forward(self) -> torch.Tensor:
        return self.field_to_image(self._field())

    def references(self):
        return {"init image": self._start} if self._start is not None else {}


def normalise_gains(gains_and_counts: list[tuple[torch.Tensor | float, int]], pixels: int) -> float:
    """The factor that gives unit pixel variance from unit-variance coefficients in an
    orthonormal basis (Parseval): 1 / sqrt(sum of count * gain^2 / pixels)."""
    energy = sum(float((torch.as_tensor(g, dtype=torch.float64) ** 2).sum()) * n for g, n in gains_and_counts)
    return (pixels / energy) ** 0.5


def _resample_axis(spectrum: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Zero-pad (grow) or truncate (shrink) a full FFT spectrum along ``dim`` to ``size``
    bins, keeping the frequencies both sizes share. The Nyquist bin of an even length is shared
    by +n/2 and -n/2: growing splits it in half between them, shrinking folds both into it, so
    the real signal is kept."""
    n = spectrum.shape[dim]
    if size == n:
        return spectrum
    x = spectrum.movedim(dim, -1)
    out = x.new_zeros(*x.shape[:-1], size)
    short = min(n, size)
    pos, neg = (short + 1) // 2, short // 2  # DC and positive bins; negative bins (with Nyquist when even)
    out[..., :pos] = x[..., :pos]
    if neg:
        out[..., size - neg :] = x[..., n - neg :]
    if short % 2 == 0:
        half = short // 2
        if size > n:  # the old Nyquist bin becomes two ordinary bins, +half and -half
            out[..., half] = x[..., half] / 2
            out[..., size - half] = x[..., half] / 2
        else:  # the new Nyquist bin gathers the old +half and -half
            out[..., half] = x[..., half] + x[..., n - half]
    return out.movedim(-1, dim)


def _centre_phase(size: int, old: int, dim: int, ndim: int) -> torch.Tensor:
    """Phase factors that put new pixel j at old coordinate (j + 0.5) * old / size - 0.5, the
    pixel-centre convention of torch's and kornia's resizes (zero-padding alone aligns the
    first pixels' corners instead)."""
    shift = 0.5 * old / size - 0.5  # in old pixels
    k = torch.fft.fftfreq(size, d=1.0 / size, dtype=torch.float64)
    phase = torch.polar(torch.ones_like(k), 2 * torch.pi * k * shift / old)
    return phase.reshape([-1 if d == ndim + dim else 1 for d in range(ndim)])


def fourier_resample(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resample a periodic (…, H, W) real signal to (height, width) by trigonometric
    interpolation: the image at the new size is the same band-limited periodic function,
    sampled at the new pixel centres. torch.fft has no resample and kornia's resizes are not
    periodic, hence this helper."""
    h, w = x.shape[-2:]
    # In float64 on the CPU: it runs only on resizes, and MPS has no float64.
    spectrum = torch.fft.fft2(x.detach().cpu().double(), norm="ortho")
    spectrum = _resample_axis(_resample_axis(spectrum, height, -2), width, -1)
    spectrum = spectrum * _centre_phase(height, h, -2, x.dim()) * _centre_phase(width, w, -1, x.dim())
    out = torch.fft.ifft2(spectrum, norm="ortho").real * ((height * width) / (h * w)) ** 0.5
    return out.to(device=x.device, dtype=x.dtype)
