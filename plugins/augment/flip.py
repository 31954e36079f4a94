"""Mirror views left-right (kornia RandomHorizontalFlip)."""

from __future__ import annotations

from dataclasses import dataclass

import kornia.augmentation as K

from pixengine import option

from .base import P_HELP, KorniaAugmentation


@dataclass
class FlipOptions:
    p: float = option(0.5, help=P_HELP, min=0, max=1)


class Flip(KorniaAugmentation):
    """Mirror each view left-right with probability p."""

    name = "flip"
    geometric = True
    Options = FlipOptions

    def build(self, o: FlipOptions):
        return K.RandomHorizontalFlip(p=o.p)
