"""The small grammar that names a style embedding in presets (``init``, ``interpolate_to``):

- ``style:7``: one of the 26 built-in styles of the cin26 network (0-25);
- ``style:3=0.5,12=0.5``: a mixture of them (weights are normalised to sum to 1);
- ``image:PATH``: the style of an image, through the arbitrary network's predictor P;
- ``random``: a random embedding (a random mixture, or S drawn around zero).
"""

from __future__ import annotations

from dataclasses import dataclass

from pixengine.errors import ConfigError

from .cin26 import NUM_STYLES

FORMS = "'style:N' (N in 0-25), 'style:N=W,M=W' (a mixture), 'image:PATH' or 'random'"


@dataclass(frozen=True)
class EmbeddingSpec:
    kind: str  # "style", "image" or "random"
    weights: tuple[tuple[int, float], ...] = ()
    path: str | None = None

    def mixture(self) -> list[float]:
        """The 26 normalised mixture weights of a ``style:`` spec."""
        weights = [0.0] * NUM_STYLES
        for index, weight in self.weights:
            weights[index] += weight
        total = sum(weights)
        return [w / total for w in weights]


def parse_embedding(text: str, key: str) -> EmbeddingSpec:
    text = str(text).strip()
    if text == "random":
        return EmbeddingSpec("random")
    if text.startswith("image:") and text[len("image:") :].strip():
        return EmbeddingSpec("image", path=text[len("image:") :].strip())
    if text.startswith("style:"):
        parts = [p.strip() for p in text[len("style:") :].split(",") if p.strip()]
        weights = []
        for part in parts:
            index, _, weight = part.partition("=")
            try:
                i, w = int(index), float(weight) if weight else 1.0
            except ValueError:
                raise ConfigError(f"cannot read '{part}' in '{text}'; expected {FORMS}", key=key) from None
            if not 0 <= i < NUM_STYLES:
                raise ConfigError(f"style index {i} is out of range; the cin26 network has styles 0 to {NUM_STYLES - 1}", key=key)
            if w < 0:
                raise ConfigError(f"style weights must not be negative, got {w} for style {i}", key=key)
            weights.append((i, w))
        if not weights or sum(w for _, w in weights) <= 0:
            raise ConfigError(f"'{text}' names no style with a positive weight; expected {FORMS}", key=key)
        return EmbeddingSpec("style", weights=tuple(weights))
    raise ConfigError(f"cannot read '{text}'; expected {FORMS}", key=key)
