"""Geometric augmentations of each view: affine and perspective warps (kornia)."""

from __future__ import annotations

from dataclasses import dataclass

import kornia.augmentation as K

from pixengine import option

from .base import P_HELP, KorniaAugmentation

PADDING = ["zeros", "border", "reflection"]


@dataclass
class AffineOptions:
    degrees: float = option(15.0, help="largest rotation either way, in degrees", min=0, max=180)
    translate: float = option(0.1, help="largest shift, as a fraction of the view's side", min=0, max=1)
    scale: list[float] = option([0.9, 1.1], help="range of the zoom factor [low, high]", min=0)
    shear: float = option(5.0, help="largest shear either way, in degrees", min=0, max=90)
    padding: str = option("border", help="how uncovered corners are filled", choices=PADDING)
    p: float = option(0.8, help=P_HELP, min=0, max=1)

    def __post_init__(self):
        if len(self.scale) != 2 or self.scale[0] > self.scale[1] or self.scale[0] <= 0:
            raise ValueError(f"scale must be [low, high] with 0 < low <= high, got {list(self.scale)}")


class Affine(KorniaAugmentation):
    """Random rotation, shift, zoom and shear of each view (kornia RandomAffine)."""

    name = "affine"
    geometric = True
    Options = AffineOptions

    def build(self, o: AffineOptions):
        return K.RandomAffine(
            degrees=o.degrees,
            translate=(o.translate, o.translate),
            scale=tuple(o.scale),
            shear=o.shear,
            padding_mode=o.padding,
            p=o.p,
        )


@dataclass
class PerspectiveOptions:
    distortion: float = option(0.3, help="how far corners move, as a fraction of the side (0: none, 1: most)", min=0, max=1)
    p: float = option(0.5, help=P_HELP, min=0, max=1)


class Perspective(KorniaAugmentation):
    """Random perspective warp of each view (kornia RandomPerspective)."""

    name = "perspective"
    geometric = True
    Options = PerspectiveOptions

    def build(self, o: PerspectiveOptions):
        return K.RandomPerspective(distortion_scale=o.distortion, p=o.p)
