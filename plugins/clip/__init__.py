"""CLIP guidance: the ``open_clip`` model and the ``clip`` and ``clip_direction`` losses.

Other plugins' losses can share a step's CLIP image embedding with
:func:`pixengine_plugins.clip.shared.image_embeddings` (memo key ``("embed_images", LABEL)``).
"""

import pixengine

from .losses import ClipDirection, ClipPrompts
from .model import OpenClip


@pixengine.hookimpl
def register_models(register):
    register(OpenClip)


@pixengine.hookimpl
def register_losses(register):
    register(ClipPrompts)
    register(ClipDirection)
