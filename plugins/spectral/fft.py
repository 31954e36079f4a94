"""The ``fft`` parameterization: the image as a 2-D Fourier spectrum (Lucid, aphantasia)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pixengine import option

from .common import SpectralOptions, SpectralParameterization, fourier_resample, normalise_gains


@dataclass
class FFTOptions(SpectralOptions):
    margin: float = option(
        0.125,
        help="without tile: hidden canvas after the right and bottom edges, as a fraction of the side, "
        "so opposite edges do not continue each other (a spectrum is periodic)",
        min=0,
        max=0.5,
    )


def spectrum_scale(height: int, width: int, decay: float) -> torch.Tensor:
    """1 / max(|f|, 1/side)^decay over the rfft2 grid of a (height, width) canvas, f in cycles per
    pixel; normalised so unit-variance coefficients make a unit-variance image."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(width, dtype=torch.float64)[None, :]
    lowest = 1.0 / max(height, width)
    scale = 1.0 / torch.sqrt(fy**2 + fx**2).clamp(min=lowest) ** decay
    # The full spectrum's energy: the rfft grid holds the columns 1..ceil(width/2)-1 twice.
    fx_full = torch.fft.fftfreq(width, dtype=torch.float64)[None, :]
    full = 1.0 / torch.sqrt(fy**2 + fx_full**2).clamp(min=lowest) ** decay
    return (scale * normalise_gains([(full, 1)], height * width)).float()


class FFTImage(SpectralParameterization):
    """A real 2-D Fourier spectrum scaled by 1/frequency, in a decorrelated colour space.

    The parameters are the real and imaginary parts of the rfft2 of a canvas of logits; the
    image is their inverse FFT through the colour basis and a sigmoid. Without ``tile`` the
    canvas is larger than the image by ``margin`` and cropped, so the left edge does not
    continue the right one; with ``tile`` the canvas is the image and it tiles seamlessly.
    Growing resamples the spectrum (zero-padding: trigonometric interpolation of the canvas).
    """

    name = "fft"
    Options = FFTOptions

    def _canvas_size(self, width: int, height: int) -> tuple[int, int]:
        if self.options.tile:
            return height, width
        margin = self.options.margin
        return height + round(margin * height), width + round(margin * width)

    def _setup(self, width: int, height: int, canvas: tuple[int, int] | None = None) -> None:
        self.canvas = canvas or self._canvas_size(width, height)
        device = self.ctx.device if not hasattr(self, "spectrum") else self.spectrum.device
        self.register_buffer("scale", spectrum_scale(*self.canvas, self.options.decay).to(device), persistent=False)

    def _canvas_field(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        return torch.fft.irfft2(spectrum, s=self.canvas, norm="ortho")

    def _field(self) -> torch.Tensor:
        return self._canvas_field()[..., : self.height, : self.width]

    def _encode_canvas(self, canvas_field: torch.Tensor) -> None:
        spectrum = torch.fft.rfft2(canvas_field, norm="ortho") / self.scale
        self.spectrum = torch.nn.Parameter(torch.view_as_real(spectrum).contiguous())

    def _encode(self, field: torch.Tensor) -> None:
        pad_h, pad_w = self.canvas[0] - field.shape[-2], self.canvas[1] - field.shape[-1]
        if pad_h or pad_w:
            # Mirror the image into the hidden margin: it keeps the canvas smooth across the
            # crop, so the spectrum has no spurious high frequencies.
            field = F.pad(field, (0, pad_w, 0, pad_h), mode="reflect")
        self._encode_canvas(field)

    def _add_noise(self, std: float) -> None:
        # Real and imaginary parts share the variance of each complex coefficient.
        super()._add_noise(std / 2**0.5)

    def param_groups(self) -> list[dict]:
        return [{"name": "spectrum", "params": [self.spectrum]}]

    def resize(self, width: int, height: int) -> None:
        with torch.no_grad():
            old_h, old_w = self.canvas
            if self.options.tile:
                canvas = (height, width)
            else:
                # Keep the canvas in proportion, so the visible part is the old image stretched.
                canvas = (max(height, round(old_h * height / self.height)), max(width, round(old_w * width / self.width)))
            grown = fourier_resample(self._canvas_field(), *canvas)
            self.width, self.height = width, height
            self._setup(width, height, canvas)
            self._encode_canvas(grown)
