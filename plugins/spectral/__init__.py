"""Spectral image parameterizations (aphantasia-style): ``fft`` (a Fourier spectrum) and
``dwt`` (a wavelet decomposition). Optimising coefficients scaled by 1/frequency gives cleaner,
more coherent images than optimising pixels."""

from __future__ import annotations

import pixengine

from .dwt import DWTImage
from .fft import FFTImage


@pixengine.hookimpl
def register_parameterizations(register):
    register(FFTImage)
    register(DWTImage)
