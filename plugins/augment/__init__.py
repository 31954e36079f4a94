"""Augmentations: random views of the image for the losses, each replayable.

``cutouts`` turns the image into a batch of square views (it usually comes first in a chain);
the others are kornia augmentations applied to each view with its own random parameters.
"""

import pixengine

from .color import ColorJitter
from .cutouts import Cutouts
from .flip import Flip
from .geometry import Affine, Perspective
from .noise import Noise


@pixengine.hookimpl
def register_augmentations(register):
    for cls in (Cutouts, Affine, Perspective, ColorJitter, Noise, Flip):
        register(cls)
