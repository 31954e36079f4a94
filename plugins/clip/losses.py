"""CLIP losses: distance to text and image prompts (``clip``), and the StyleGAN-NADA
directional loss (``clip_direction``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

import pixengine
from pixengine import ConfigError, LossOptions, option
from pixengine.prompts import Prompt, parse_prompts

from .shared import DISTANCES, clip_models, image_embeddings


@dataclass
class ClipOptions(LossOptions):
    models: Optional[dict[str, float]] = option(
        None, help="CLIP models by their label in the `models` section, each with a weight: {clip: 1.0, rn50: 0.5}; "
        "null: every CLIP model of the run, weight 1"
    )
    prompt: str = option(
        "",
        help="text prompts, `text:weight:stop@range | ...` (see README, 'Prompt grammar'); empty: the run's `prompt`",
    )
    images: dict[str, float] = option(
        {}, help="image prompts: image file -> weight (negative pushes away), e.g. {'cat.jpg': 0.5}", file="image"
    )
    distance: str = option(
        "spherical", help="distance between embeddings: great-circle (pixray, VQGAN+CLIP) or 1 - cosine", choices=list(DISTANCES)
    )
    mask: Optional[str] = option(
        None,
        help="where on the canvas the prompts apply: an image, white there (grey: partly); each view counts by how "
        "much of the mask it shows, so other regions can take other prompts. Needs cutouts",
        file="mask",
    )

    def __post_init__(self):
        parse_prompts(self.prompt)  # a malformed prompt stops the run before anything loads
        for path, weight in self.images.items():
            if not math.isfinite(weight):
                raise ConfigError(f"the weight of image prompt '{path}' must be finite", key="images")


class ClipPrompts(pixengine.Loss):
    """Pull the image's CLIP embedding towards text and image prompts (push, for negative weights).

    value = sum over models m of W_m * sum over prompts p of |w_p| * mean over views of
    sign(w_p) * d(view, p), where d is the distance between unit embeddings and a prompt past
    its stop value, or outside its step range, no longer pulls (inactive prompts count 0).
    With a ``mask`` the mean over views is weighted by the mask's mean in each view.
    """

    name = "clip"
    Options = ClipOptions

    def __init__(self, options: ClipOptions, ctx):
        super().__init__(options, ctx)
        # Its own prompt (checked when the config was validated), else the run's (checked then too).
        prompts = parse_prompts(options.prompt) if options.prompt.strip() else list(ctx.prompts)
        images = [(path, weight) for path, weight in options.images.items()]
        if not prompts and not images:
            raise ConfigError("no prompt: set `prompt` (or the run's prompt) or `images`", key="prompt")
        self.prompts: list[Prompt] = prompts + [Prompt(text=f"image:{path}", weight=w) for path, w in images]
        self.distance = DISTANCES[options.distance]
        self.models = clip_models(ctx, options.models)
        weights = torch.tensor([p.weight for p in self.prompts], device=ctx.device)
        # Compared with sign * distance: a positive prompt stops below `stop`, a negative one above it.
        signed_stops = [-math.inf if p.stop is None else math.copysign(1, p.weight) * p.stop for p in self.prompts]
        self.register_buffer("signs", weights.sign(), persistent=False)
        self.register_buffer("magnitudes", weights.abs(), persistent=False)
        self.register_buffer("signed_stops", torch.tensor(signed_stops, device=ctx.device), persistent=False)
        self._always = all(p.start is None and p.end is None for p in self.prompts)
        self._images = {path: ctx.load_image(path, fit="cover", option="images") for path, _ in images}
        self._mask = None
        if options.mask:
            if not (ctx.augment is not None and any(link.geometric for link in ctx.augment.links)):
                raise ConfigError(
                    "a mask weighs the augmentation chain's views by how much of it they show; the run's views are "
                    "all of the image: add cutouts to the `augmentations` section",
                    key="mask",
                )
            self._mask = ctx.load_image(options.mask, option="mask")
        # Text and image prompt embeddings, once per run: one (P, D) matrix per model.
        self.targets = [self._targets(ctx, model, prompts, images) for _, _, model in self.models]

    @torch.no_grad()
    def _targets(self, ctx, model, prompts: list[Prompt], images: list[tuple[str, float]]) -> torch.Tensor:
        parts = []
        if prompts:
            parts.append(model.embed_texts([p.text for p in prompts]))
        height, width = model.input_size
        for path, _ in images:
            # The whole image, fitted to the model's input (views of it would only add noise).
            parts.append(model.embed_images(ctx.load_image(path, (width, height), fit="cover", option="images")))
        return torch.cat(parts).detach()

    def references(self):
        found = {f"image prompt {i + 1}": image for i, image in enumerate(self._images.values())}
        if self._mask is not None:
            found["mask"] = self._mask
        return found

    def view_weights(self, inputs) -> torch.Tensor | None:
        """(V,) weights of the step's views summing to 1 (or all 0): the mask's mean in each
        view, from the chain's geometric links replayed on the mask. None without a mask."""
        if self._mask is None:
            return None
        image = inputs.image
        if self._mask.shape[-2:] != image.shape[-2:]:  # the run grew
            height, width = image.shape[-2:]
            self._mask = self.ctx.load_image(self.options.mask, (width, height), option="mask")
        mask = self._mask.mean(dim=1, keepdim=True).expand(image.shape[0], -1, -1, -1)
        coverage = inputs.augment.replay(mask, geometric_only=True).mean(dim=(1, 2, 3))
        return coverage / coverage.sum().clamp(min=1e-8)

    def _active(self, step: int, steps: int) -> torch.Tensor | None:
        if self._always:
            return None
        return torch.tensor([float(p.active(step, steps)) for p in self.prompts], device=self.signs.device)

    def forward(self, inputs):
        active = self._active(inputs.step, inputs.steps)
        scale = self.magnitudes if active is None else self.magnitudes * active
        view_weights = self.view_weights(inputs)
        total = None
        for (label, weight, model), targets in zip(self.models, self.targets):
            signed = self.distance(image_embeddings(inputs, label, model), targets) * self.signs
            # Past its stop a prompt keeps its value but passes no gradient (pixray's stop).
            gated = torch.where(signed >= self.signed_stops, signed, signed.detach())
            per_prompt = gated.mean(dim=0) if view_weights is None else view_weights @ gated
            term = weight * (per_prompt * scale).sum()
            total = term if total is None else total + term
        return total


@dataclass
class ClipDirectionOptions(LossOptions):
    models: Optional[dict[str, float]] = option(
        None, help="CLIP models by label, each with a weight; null: every CLIP model of the run, weight 1"
    )
    target: str = option(help="text describing what the image should become")
    source: str = option("a photo", help="text describing the starting image")
    replay: bool = option(
        True,
        help="embed the starting image through the same views as the current one each step (one extra forward pass "
        "per model); false: compare every view with the starting image's single embedding",
    )


class ClipDirection(pixengine.Loss):
    """StyleGAN-NADA's directional loss: the change from the starting image to the current one,
    in CLIP image space, should point along the change from `source` text to `target` text.

    value = sum over models of W_m * mean over views of (1 - cos(E(view) - E(start view),
    E(target) - E(source))). The starting image is the one the loss sees at step 0.
    """

    name = "clip_direction"
    Options = ClipDirectionOptions

    #: Smooths the norm of the image change, which is 0 at step 0 (scale of unit embeddings).
    EPS = 1e-4

    def __init__(self, options: ClipDirectionOptions, ctx):
        super().__init__(options, ctx)
        if not options.target.strip():
            raise ConfigError("the target text is empty", key="target")
        self.models = clip_models(ctx, options.models)
        self.directions = []
        for _, _, model in self.models:
            texts = model.embed_texts([options.source, options.target])
            self.directions.append(F.normalize(texts[1] - texts[0], dim=-1))
        self._start: torch.Tensor | None = None
        self._start_embeddings: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def _start_views(self, inputs, label: str, model) -> torch.Tensor:
        start = self._start
        if start.shape[-2:] != inputs.image.shape[-2:]:  # the run changed resolution since step 0
            start = F.interpolate(start, size=inputs.image.shape[-2:], mode="bilinear", align_corners=False)
        if not self.options.replay:
            if label not in self._start_embeddings:
                self._start_embeddings[label] = model.embed_images(start)
            return self._start_embeddings[label]
        if inputs.views is None or inputs.augment is None:
            return model.embed_images(start)
        return inputs.cached(("clip_direction_start", id(self), label), lambda: model.embed_images(inputs.augment.replay(start)))

    def forward(self, inputs):
        if self._start is None:
            if inputs.step < 0:
                # Scoring candidates before step 1: no starting image yet, and no state may be
                # kept; every candidate is "unchanged", so the loss is the same for all.
                return inputs.image.new_tensor(sum(w for _, w, _ in self.models))
            self._start = inputs.image.detach().clone()
        total = None
        for (label, weight, model), direction in zip(self.models, self.directions):
            change = image_embeddings(inputs, label, model) - self._start_views(inputs, label, model)
            norm = (change.pow(2).sum(dim=-1) + self.EPS**2).sqrt()
            term = weight * (1 - (change @ direction) / norm).mean()
            total = term if total is None else total + term
        return total
