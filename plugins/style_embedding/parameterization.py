"""The ``style_embedding`` parameterization: the image is a feed-forward style network's
rendering of fixed content image(s), and the only parameters are the style embedding.

- cin26 network: the 26 mixture weights (``optimize: mixture``, a softmax of 26 logits) or
  each layer's instance-norm gamma and beta (``optimize: norm``, 990 numbers);
- arbitrary_style network: the 100-d embedding S (``optimize: vector``);
- either: the position t on the line between two embeddings (``optimize: t``).

With several content images, all share the one embedding and the image batch has one entry
per content image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F

import pixengine
from pixengine import FileOption, option
from pixengine.errors import ConfigError
from pixengine.images import FITS, tensor_to_pil
from pixengine.outputs import save_png

from .arbitrary import PREDICTOR_SIZE, STYLE_DIM
from .cin26 import NUM_STYLES
from .embeddings import FORMS, EmbeddingSpec, parse_embedding
from .models import ArbitraryStyleModel, Cin26Model

MODES = ("auto", "mixture", "norm", "vector", "t")
#: Standard deviation of a random S: P's outputs on photos and paintings spread about this much.
RANDOM_S_STD = 0.5


@dataclass
class StyleEmbeddingOptions:
    model: str = option(help="label of a cin26 or arbitrary_style model in the models section")
    content: Any = option(help="content image path, or a list of paths (a batch that shares one embedding)", file="image")
    fit: str = option("cover", help="how content images are fitted to the image size", choices=list(FITS))
    optimize: str = option(
        "auto",
        help="what is optimised: mixture (cin26: weights of the 26 styles), norm (cin26: every layer's gamma and beta), "
        "vector (arbitrary_style: S), t (the position between init and interpolate_to); auto: mixture or vector",
        choices=list(MODES),
    )
    init: str = option("style:0", help=f"starting embedding: {FORMS}", file=FileOption(kind="image", prefix="image:"))
    interpolate_to: Optional[str] = option(
        None,
        help="a second embedding (same forms as init); the start is init + t * (interpolate_to - init)",
        file=FileOption(kind="image", prefix="image:"),
    )
    t: float = option(0.0, help="position between init (0) and interpolate_to (1)", min=0.0, max=1.0)
    style_model: Optional[str] = option(
        None, help="label of a cin26 model: with the arbitrary_style network, 'style:N' is P of the content rendered in style N by it"
    )
    scale: float = option(
        1.0, help="network resolution relative to the image (below 1: faster, larger strokes; the result is resized)", min=0.125, max=4.0
    )
    mixture_floor: float = option(
        1e-3, help="optimize: mixture starts each style at at least this weight, so styles at 0 can still grow", min=1e-8, max=1.0
    )

    def __post_init__(self):
        if self.optimize == "t" and self.interpolate_to is None:
            raise ValueError("optimize: t needs interpolate_to (the embedding at t = 1)")


class StyleEmbedding(pixengine.Parameterization):
    """A feed-forward style network's rendering of the content image(s); only the style embedding is optimised."""

    name = "style_embedding"
    Options = StyleEmbeddingOptions
    supports_resize = True

    def __init__(self, options: StyleEmbeddingOptions, ctx):
        super().__init__(options, ctx)
        model = ctx.model(options.model)
        if isinstance(model, Cin26Model):
            self.family = "cin26"
        elif isinstance(model, ArbitraryStyleModel):
            self.family = "arbitrary_style"
        else:
            raise ConfigError(
                f"model '{options.model}' is a '{getattr(model, 'name', type(model).__name__)}' model; "
                "style_embedding needs a cin26 or arbitrary_style model",
                key="model",
            )
        # Kept out of the module tree: the networks are the run's models, not parameters.
        self._models = {"net": model}
        self.mode = {"cin26": "mixture", "arbitrary_style": "vector"}[self.family] if options.optimize == "auto" else options.optimize
        allowed = {"cin26": ("mixture", "norm", "t"), "arbitrary_style": ("vector", "t")}[self.family]
        if self.mode not in allowed:
            raise ConfigError(
                f"optimize: {self.mode} does not apply to the {self.family} network; valid: {', '.join(allowed)}", key="optimize"
            )
        self.paths = self._content_paths(options.content)
        self.size = (ctx.width, ctx.height)
        self.register_buffer("content", self._load_content(*self.size), persistent=False)
        self._references: dict[str, torch.Tensor] = {}

        with torch.no_grad():
            start = self._natural(parse_embedding(options.init, "init"), "init")
            end = None
            if options.interpolate_to is not None:
                end = self._natural(parse_embedding(options.interpolate_to, "interpolate_to"), "interpolate_to")
        if self.mode == "t":
            self.register_buffer("start", start)
            self.register_buffer("end", end)
            self.t = torch.nn.Parameter(torch.tensor(float(options.t), device=ctx.device))
            return
        if end is not None:
            start = torch.lerp(start, end, options.t)
        if self.mode == "mixture":
            self.embedding = torch.nn.Parameter(torch.log(start + options.mixture_floor))
        elif self.mode == "norm":
            self.embedding = torch.nn.Parameter(model.net.norm_from_weights(start).clone())
        else:
            self.embedding = torch.nn.Parameter(start.clone())

    # -- building -------------------------------------------------------------------------

    @staticmethod
    def _content_paths(content: Any) -> list[str]:
        paths = [content] if isinstance(content, str) else list(content) if isinstance(content, (list, tuple)) else None
        if not paths or not all(isinstance(p, str) and p for p in paths):
            raise ConfigError(f"content must be an image path or a non-empty list of paths, got {content!r}", key="content")
        return paths

    def _network_size(self, width: int, height: int) -> tuple[int, int]:
        scale = self.options.scale
        return max(8, round(width * scale)), max(8, round(height * scale))

    def _load_content(self, width: int, height: int) -> torch.Tensor:
        size = self._network_size(width, height)
        images = [self.ctx.load_image(p, size=size, fit=self.options.fit, option="content") for p in self.paths]
        return torch.cat(images)

    def _natural(self, spec: EmbeddingSpec, key: str) -> torch.Tensor:
        """The embedding a spec names, in the space interpolation happens in: the 26 mixture
        weights (cin26) or S (arbitrary_style). Both networks are linear in it up to the first
        normalisation, so a straight line here is a straight line in gamma/beta."""
        device = self.ctx.device
        if self.family == "cin26":
            if spec.kind == "image":
                raise ConfigError(
                    "the cin26 network has no style encoder, so it cannot start from an image; "
                    "use 'style:N' or 'random', or the arbitrary_style model for 'image:'",
                    key=key,
                )
            if spec.kind == "random":
                return torch.softmax(torch.randn(NUM_STYLES), dim=0).to(device)
            return torch.tensor(spec.mixture(), device=device)
        net = self._models["net"]
        if spec.kind == "random":
            return (RANDOM_S_STD * torch.randn(STYLE_DIM)).to(device)
        if spec.kind == "image":
            image = self.ctx.load_image(spec.path, size=(PREDICTOR_SIZE, PREDICTOR_SIZE), fit="cover", option=key)
            self._references[f"style ({key})"] = image
            return net.predictor(image)[0]
        renderer = self._style_renderer(key)
        weights = torch.tensor(spec.mixture(), device=device)
        first = self.ctx.load_image(self.paths[0], size=(PREDICTOR_SIZE, PREDICTOR_SIZE), fit="cover", option="content")
        rendered = renderer.net(first, weights=weights)
        self._references[f"style ({key})"] = rendered
        return net.predictor(rendered)[0]

    def _style_renderer(self, key: str) -> Cin26Model:
        label = self.options.style_model
        if label is None:
            raise ConfigError(
                "with the arbitrary_style network, 'style:N' needs style_model: the label of a cin26 model "
                "(its rendering of the content in style N is encoded by P); or use 'image:PATH' or 'random'",
                key=key,
            )
        try:
            model = self.ctx.model(label)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key="style_model") from None
        if not isinstance(model, Cin26Model):
            raise ConfigError(f"style_model '{label}' is a '{getattr(model, 'name', '?')}' model, not cin26", key="style_model")
        return model

    # -- the image ------------------------------------------------------------------------

    def embedding_value(self) -> torch.Tensor:
        """The current embedding: mixture weights (mixture, or t with cin26), the flat
        gamma/beta vector (norm) or S (vector, or t with arbitrary_style)."""
        if self.mode == "t":
            return torch.lerp(self.start, self.end, self.t.clamp(0.0, 1.0))
        if self.mode == "mixture":
            return torch.softmax(self.embedding, dim=0)
        return self.embedding

    def forward(self) -> torch.Tensor:
        net = self._models["net"]
        value = self.embedding_value()
        if self.family == "cin26":
            image = net.net(self.content, norm=value) if self.mode == "norm" else net.net(self.content, weights=value)
        else:
            image = net.transformer(self.content, value)
        width, height = self.size
        if image.shape[-2:] != (height, width):
            image = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
        return image

    def param_groups(self) -> list[dict]:
        return [{"name": "embedding", "params": [self.t if self.mode == "t" else self.embedding]}]

    def resize(self, width: int, height: int) -> None:
        self.size = (width, height)
        self.content = self._load_content(width, height)

    def references(self) -> dict[str, torch.Tensor]:
        refs = {("content" if i == 0 else f"content {i + 1}"): self.content[i : i + 1] for i in range(len(self.paths))}
        return {**refs, **self._references}

    def export(self, stem: str) -> list[str]:
        """With several content images, final.png shows the first; write each one beside it."""
        if len(self.paths) < 2:
            return []
        with torch.no_grad():
            images = self.forward()
        return [str(save_png(Path(f"{stem}.{i}.png"), tensor_to_pil(images[i]))) for i in range(images.shape[0])]
