"""The ``dwt`` parameterization: the image as a multi-level discrete wavelet decomposition
(aphantasia's DWT mode)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import ptwt
import pywt
import torch
import torch.nn.functional as F

from pixengine import ConfigError, option
from pixengine.errors import did_you_mean

from .common import SpectralOptions, SpectralParameterization, fourier_resample

#: ptwt's boundary modes (how the transform extends the image past its edges).
MODES = ["reflect", "symmetric", "zero", "periodic"]


@dataclass
class DWTOptions(SpectralOptions):
    wavelet: str = option(
        "coif2", help="a pywavelets discrete wavelet: haar, dbN, symN, coifN, biorN.M, rbioN.M, dmey (see pywt.wavelist)"
    )
    levels: Optional[int] = option(
        None,
        help="decomposition levels: more gives large structures their own coefficients "
        "(default: log2 of the shorter side minus 2, or as many as the size allows)",
        min=1,
    )
    mode: str = option("reflect", help="how the transform extends the image past its edges (tile wraps around instead)", choices=MODES)


def _synthesise_axis(low: torch.Tensor, high: torch.Tensor, rec_lo: torch.Tensor, rec_hi: torch.Tensor, dim: int) -> torch.Tensor:
    """One periodised synthesis step along ``dim``: upsample both bands by 2, filter, and wrap
    the filters' overhang around, so the result has exactly twice the length and is periodic."""
    low, high = low.movedim(dim, -1), high.movedim(dim, -1)
    n, taps = low.shape[-1], rec_lo.numel()
    lead = low.shape[:-1]
    full = F.conv_transpose1d(low.reshape(-1, 1, n), rec_lo.view(1, 1, taps), stride=2) + F.conv_transpose1d(
        high.reshape(-1, 1, n), rec_hi.view(1, 1, taps), stride=2
    )
    length = 2 * n
    folds = -(-full.shape[-1] // length)
    wrapped = F.pad(full, (0, folds * length - full.shape[-1])).reshape(-1, folds, length).sum(dim=1)
    # pywt's periodization aligns the output this many samples earlier (checked against pywt in tests).
    wrapped = torch.roll(wrapped, 1 - taps // 2, dims=-1)
    return wrapped.reshape(*lead, length).movedim(-1, dim)


def periodic_waverec2(coeffs: list, rec_lo: torch.Tensor, rec_hi: torch.Tensor) -> torch.Tensor:
    """Inverse of ``pywt.wavedec2(mode="periodization")`` in torch, differentiable.

    Written here because ptwt 1.0 has no periodization mode, and its padded modes are not
    periodic in the coefficients: a change near one edge never reaches the other, so the image
    could not tile. Uses pywavelets' reconstruction filters. ``coeffs`` is
    [lowpass, (horizontal, vertical, diagonal) coarsest first, ...] as pywt orders them.
    """
    image = coeffs[0]
    for horizontal, vertical, diagonal in coeffs[1:]:
        # pywt's cH is detail along the height and lowpass along the width; cV the opposite.
        rows_low = _synthesise_axis(image, vertical, rec_lo, rec_hi, -1)
        rows_high = _synthesise_axis(horizontal, diagonal, rec_lo, rec_hi, -1)
        image = _synthesise_axis(rows_low, rows_high, rec_lo, rec_hi, -2)
    return image


def _max_levels(wavelet: pywt.Wavelet, mode: str, tile: bool, width: int, height: int) -> int:
    """The most levels the transform supports at this size."""
    if tile:  # periodization halves each side exactly at every level
        levels = 0
        while width % 2 ** (levels + 1) == 0 and height % 2 ** (levels + 1) == 0:
            levels += 1
        return levels
    probe = torch.zeros(1, 1, height, width)
    levels = 0
    while True:  # ptwt fails once the padding exceeds the coarsest band; ask it rather than guess
        try:
            ptwt.wavedec2(probe, wavelet, mode=mode, level=levels + 1)
        except (ValueError, RuntimeError):
            return levels
        levels += 1
        if 2**levels > max(width, height):
            return levels


class DWTImage(SpectralParameterization):
    """A multi-level wavelet decomposition, scaled by 2^(level * decay), in a decorrelated colour space.

    The parameters are the lowpass band and the detail bands of each level; the image is the
    inverse wavelet transform (ptwt, differentiable, with pywavelets' filters) through the
    colour basis and a sigmoid. With ``tile`` the transform is periodised, so the image wraps
    around; this needs width and height divisible by 2^levels.
    """

    name = "dwt"
    Options = DWTOptions

    def __init__(self, options: DWTOptions, ctx):
        if options.wavelet not in pywt.wavelist(kind="discrete"):
            raise ConfigError(
                f"unknown wavelet '{options.wavelet}'; {did_you_mean(options.wavelet, pywt.wavelist(kind='discrete'))}",
                key="wavelet",
            )
        self.wavelet = pywt.Wavelet(options.wavelet)
        super().__init__(options, ctx)

    def _levels_for(self, width: int, height: int) -> int:
        if self.options.levels is not None:
            return self.options.levels
        most = _max_levels(self.wavelet, self.options.mode, self.options.tile, width, height)
        # Deep enough that the lowpass band is a handful of coefficients, like the fft's DC.
        return max(1, min(most, math.floor(math.log2(min(width, height))) - 2))

    def _check_sizes(self, sizes: list[tuple[int, int]]) -> None:
        needed = self.options.levels or 1  # automatic levels adapt, but need at least one
        for width, height in sizes:
            most = _max_levels(self.wavelet, self.options.mode, self.options.tile, width, height)
            if needed <= most:
                continue
            if self.options.tile:
                step = 2**needed
                fit = f"{-(-width // step) * step}x{-(-height // step) * step}"
                fewer = f", or levels: {most} or fewer" if most else ""
                raise ConfigError(
                    f"tile needs width and height divisible by 2^levels = {step}, and {width}x{height} is not: use e.g. {fit}{fewer}",
                    key="levels",
                )
            raise ConfigError(
                f"{needed} levels are too many for a {width}x{height} image with wavelet "
                f"'{self.options.wavelet}' and mode '{self.options.mode}'; at most {most}",
                key="levels",
            )

    # -- coefficients -------------------------------------------------------------------------

    def _setup(self, width: int, height: int) -> None:
        device = self.ctx.device if not hasattr(self, "lowpass") else self.lowpass.device
        if self.options.tile:
            for name in ("rec_lo", "rec_hi"):
                taps = torch.tensor(getattr(self.wavelet, name), dtype=torch.float32, device=device)
                self.register_buffer(name, taps, persistent=False)
        self.levels = self._levels_for(width, height)
        self.shapes = [band.shape[-2:] for band in self._bands(self._analyse(torch.zeros(1, 1, height, width)))]
        levels, decay = self.levels, self.options.decay
        # Detail level j (1 = finest) covers frequencies around 2^-j cycles per pixel, so its
        # gain is 2^(j * decay), as the fft's 1/f^decay; the lowpass is scaled like the coarsest.
        gains = [2.0 ** (levels * decay)] + [2.0 ** ((levels - i) * decay) for i in range(levels)]
        norm = self._normaliser(gains, width, height)
        self.gains = [gain * norm for gain in gains]

    def _normaliser(self, gains: list[float], width: int, height: int) -> float:
        """The factor that makes unit-variance coefficients give a unit-variance field.

        Padded modes keep more coefficients than pixels (the coarse bands mostly describe the
        padding, which is cropped), so counting coefficients would overrate them; instead each
        band's contribution is measured by synthesising fixed random coefficients."""
        generator = torch.Generator().manual_seed(0)
        energy = 0.0
        for index, gain in enumerate(gains):
            bands = [torch.zeros(1, 3, *shape) if i == 0 else torch.zeros(1, 3, 3, *shape) for i, shape in enumerate(self.shapes)]
            bands[index] = torch.randn(bands[index].shape, generator=generator) * gain
            energy += float(self._synthesise(bands, width, height).square().sum())
        return (3 * width * height / energy) ** 0.5

    @staticmethod
    def _bands(coeffs: list) -> list[torch.Tensor]:
        """pywt-ordered coefficients as tensors: the lowpass (1, C, h, w), then each level's
        three detail bands stacked, (1, C, 3, h, w)."""
        return [coeffs[0]] + [torch.stack(level, dim=2) for level in coeffs[1:]]

    def _analyse(self, field: torch.Tensor) -> list:
        """Forward transform of (1, C, H, W): [lowpass, (h, v, d) coarsest first, ...]."""
        if self.options.tile:
            # The forward transform only runs at the start and on resizes, without gradients,
            # so pywt itself does it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "level too high": intended, coarse bands are small
                coeffs = pywt.wavedec2(field.detach().cpu().double().numpy(), self.wavelet, mode="periodization", level=self.levels)

            def tensor(array):
                return torch.from_numpy(np.ascontiguousarray(array)).to(device=field.device, dtype=field.dtype)

            return [tensor(coeffs[0])] + [tuple(tensor(band) for band in level) for level in coeffs[1:]]
        coeffs = ptwt.wavedec2(field, self.wavelet, mode=self.options.mode, level=self.levels)
        return [coeffs[0]] + [tuple(level) for level in coeffs[1:]]

    def _encode(self, field: torch.Tensor) -> None:
        bands = [band / gain for band, gain in zip(self._bands(self._analyse(field.detach())), self.gains)]
        self.lowpass = torch.nn.Parameter(bands[0])
        self.details = torch.nn.ParameterList(torch.nn.Parameter(band) for band in bands[1:])

    def _synthesise(self, bands: list[torch.Tensor], width: int, height: int) -> torch.Tensor:
        """Inverse transform of [lowpass, details (1, C, 3, h, w) coarsest first, ...]."""
        coeffs = [bands[0]] + [tuple(level.unbind(dim=2)) for level in bands[1:]]
        if self.options.tile:
            field = periodic_waverec2(coeffs, self.rec_lo.to(bands[0]), self.rec_hi.to(bands[0]))
        else:
            field = ptwt.waverec2(coeffs, self.wavelet)
        # ptwt pads odd sizes by one sample; the extra row/column is not part of the image.
        return field[..., :height, :width]

    def _field(self) -> torch.Tensor:
        bands = [self.lowpass, *self.details]
        return self._synthesise([band * gain for band, gain in zip(bands, self.gains)], self.width, self.height)

    def param_groups(self) -> list[dict]:
        return [{"name": "lowpass", "params": [self.lowpass]}, {"name": "details", "params": list(self.details)}]

    def resize(self, width: int, height: int) -> None:
        self._check_sizes([(width, height)])
        with torch.no_grad():
            field = self._field()
            if self.options.tile:
                field = fourier_resample(field, height, width)  # periodic in, periodic out
            else:
                shrinking = width < self.width or height < self.height
                field = F.interpolate(field, size=(height, width), mode="bicubic", align_corners=False, antialias=shrinking)
            self.width, self.height = width, height
            self._setup(width, height)
            self._encode(field)
