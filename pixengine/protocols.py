"""Capabilities a model can declare, so the components that use it can say clearly when a
model lacks one. A model declares a capability by implementing its methods and attributes;
``isinstance(model, FeatureExtractor)`` checks it (``typing.Protocol``, runtime-checkable), and
:func:`pixengine.testing.check_model` checks that the methods behave as documented.

Built-in models: ``vgg``, ``gabor`` and ``lbp`` are feature extractors (the content, style,
feature_stats and lpips losses use them); ``open_clip`` is an image-text embedder (the clip and
clip_direction losses use it).

.. versionadded:: 1.1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch


@runtime_checkable
class FeatureExtractor(Protocol):
    """Deep features of images, by layer name."""

    #: Every layer ``features`` can return, in network order.
    layer_names: list[str]
    #: The layers used when a loss names none.
    default_layers: list[str]

    def features(self, images: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """``images`` (B, 3, H, W) in [0, 1] -> {layer: (B, C, h, w)}, differentiable; raises
        ValueError when the images are too small for a layer."""


@runtime_checkable
class ImageTextEmbedder(Protocol):
    """Images and texts embedded in one space (CLIP)."""

    #: (height, width) of the images the encoder expects; views are resized to it.
    input_size: tuple[int, int]

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) in [0, 1] -> (N, D) unit vectors, differentiable."""

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """T texts -> (T, D) unit vectors, without gradients."""


def require(model, capability: type, label: str, key: str, examples: str) -> None:
    """ConfigError naming the model label when ``model`` lacks ``capability``."""
    if isinstance(model, capability):
        return
    from .errors import ConfigError

    raise ConfigError(
        f"model '{label}' (type '{getattr(model, 'name', type(model).__name__)}') does not provide "
        f"{capability.__name__} (pixengine.protocols); use one such as {examples}",
        key=key,
    )
