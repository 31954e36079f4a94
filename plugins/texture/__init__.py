"""Texture plugins: weight-free feature models for texture statistics, usable by the
perceptual losses (``feature_stats``, ``style``) through ``model: LABEL``:

* ``gabor``: a Gabor filter bank over orientations and scales, plus colour (Manjunath & Ma);
* ``lbp``: soft rotation-invariant uniform local binary patterns (Ojala et al.).
"""

from __future__ import annotations

import pixengine

from .gabor import Gabor
from .lbp import LBP


@pixengine.hookimpl
def register_models(register):
    register(Gabor)
    register(LBP)
