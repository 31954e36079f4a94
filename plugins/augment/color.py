"""Colour augmentation of each view (kornia ColorJitter)."""

from __future__ import annotations

from dataclasses import dataclass

import kornia.augmentation as K

from pixengine import option

from .base import P_HELP, KorniaAugmentation


@dataclass
class ColorJitterOptions:
    brightness: float = option(0.1, help="largest brightness change (factor 1 +- this)", min=0)
    contrast: float = option(0.1, help="largest contrast change (factor 1 +- this)", min=0)
    saturation: float = option(0.1, help="largest saturation change (factor 1 +- this)", min=0)
    hue: float = option(0.05, help="largest hue shift, as a fraction of the colour wheel", min=0, max=0.5)
    p: float = option(0.7, help=P_HELP, min=0, max=1)


class ColorJitter(KorniaAugmentation):
    """Random brightness, contrast, saturation and hue of each view, so the losses judge shapes
    rather than one exact colour balance."""

    name = "color_jitter"
    Options = ColorJitterOptions

    def build(self, o: ColorJitterOptions):
        return K.ColorJitter(brightness=o.brightness, contrast=o.contrast, saturation=o.saturation, hue=o.hue, p=o.p)
