"""``lpips``: the LPIPS perceptual distance (Zhang et al., CVPR 2018) to a target image.

LPIPS compares unit-normalised VGG16 activations (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)
channel by channel with learned non-negative weights (the "lin" layers), averaged over
positions and summed over layers. Its input scaling equals torchvision's ImageNet normalisation,
so it runs on the ``vgg`` model with ``arch: vgg16, weights: torchvision``.

Weights: the lin layers come from the ``lpips`` PyPI package (``lpips/weights/v0.1/vgg.pth``,
BSD-2-Clause) when it is installed, from pixengine's cache (``lpips-vgg-v0.1.pth``), or from an
explicit ``path``; the VGG16 backbone is torchvision's (see the vgg model). Without them,
``uncalibrated: true`` gives the same distance with every channel weighted 1, on any VGG.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from pixengine import LossOptions, option
from pixengine.errors import ConfigError
from pixengine.images import FITS, fit_tensor
from pixengine.weights import find_weights, load_state_dict

import pixengine

from .features import choose_layers, feature_model, step_features

LPIPS_LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"]
LPIPS_FILE = "lpips/weights/v0.1/vgg.pth"
CACHE_NAME = "lpips-vgg-v0.1.pth"


def lpips_package_file() -> Path | None:
    """The lin weights inside an installed ``lpips`` distribution (read as data, not imported)."""
    try:
        path = Path(str(importlib.metadata.distribution("lpips").locate_file(LPIPS_FILE)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def read_lin_weights(path: Path, channels: list[int]) -> list[torch.Tensor]:
    """Per layer (C,) non-negative weights from LPIPS's ``lin{i}.model.1.weight`` (1, C, 1, 1)."""
    state = load_state_dict(path)
    weights = []
    for i, c in enumerate(channels):
        key = next((k for k in (f"lin{i}.model.1.weight", f"lin{i}.model.0.weight") if k in state), None)
        if key is None or state[key].numel() != c:
            raise ConfigError(f"'{path}' is not LPIPS VGG lin weights: needs lin{i}.model.1.weight of {c} channels")
        weights.append(state[key].flatten().float().clamp(min=0))
    return weights


def unit_normalise(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


@dataclass
class LPIPSOptions(LossOptions):
    image: str = option(help="the target image", file="image")
    model: str = option("vgg", help="label of a vgg model (arch: vgg16, weights: torchvision for calibrated LPIPS)")
    path: Optional[str] = option(
        None, help="LPIPS lin weights file (vgg.pth of LPIPS v0.1); default: the lpips package's or the cache's", file="weights"
    )
    uncalibrated: bool = option(False, help="weigh every channel 1 instead of LPIPS's learned weights (works with any VGG)")
    layers: list[str] = option(list(LPIPS_LAYERS), help="layers compared (LPIPS: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)")
    fit: str = option("cover", help="how the target is fitted to the canvas", choices=list(FITS))


class LPIPS(pixengine.Loss):
    """LPIPS distance to a target image (learned perceptual image patch similarity)."""

    name = "lpips"
    Options = LPIPSOptions

    @classmethod
    def weight_files(cls, options: LPIPSOptions, key: str = "") -> dict:
        if options.uncalibrated:
            return {}
        package = lpips_package_file()
        path = find_weights(
            "lpips (VGG lin layers, v0.1)",
            path=options.path,
            cached=[CACHE_NAME],
            elsewhere=[package] if package else [],
            how="Install them with `pip install lpips` (the package carries vgg.pth), give the file in the "
            "loss's 'path' option, or set uncalibrated: true.",
        )
        return {"lpips-vgg-lin": path}

    def __init__(self, options: LPIPSOptions, ctx):
        super().__init__(options, ctx)
        self.model = feature_model(ctx, options.model)
        self.layers, _ = choose_layers(self.model, options.model, options.layers, [])
        self.target = ctx.load_image(options.image, fit=options.fit, option="image")
        probe = self.model.features(torch.zeros(1, 3, 32, 32, device=ctx.device), self.layers)
        channels = [probe[name].shape[1] for name in self.layers]
        if options.uncalibrated:
            lin = [torch.ones(c) for c in channels]
        else:
            if getattr(self.model, "convention", None) != "torchvision" or getattr(self.model.options, "arch", None) != "vgg16":
                raise ConfigError(
                    f"LPIPS's learned weights fit torchvision's VGG16; model '{options.model}' is not one "
                    "(use a vgg model with arch: vgg16, weights: torchvision, or set uncalibrated: true)",
                    key="model",
                )
            if self.layers != LPIPS_LAYERS:
                raise ConfigError(f"LPIPS's learned weights are for layers {', '.join(LPIPS_LAYERS)}", key="layers")
            (path,) = self.weight_files(options).values()
            lin = read_lin_weights(path, channels)
        for i, weights in enumerate(lin):
            self.register_buffer(f"lin{i}", weights.to(ctx.device).view(1, -1, 1, 1), persistent=False)
        self._targets: dict[tuple[int, int], dict[str, torch.Tensor]] = {}

    def references(self):
        return {"target": self.target}

    def distance(self, features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        total = 0
        for i, name in enumerate(self.layers):
            diff = (unit_normalise(features[name]) - unit_normalise(targets[name])).pow(2)
            total = total + (diff * getattr(self, f"lin{i}")).sum(dim=1).mean(dim=(1, 2))
        return total.mean()

    def forward(self, inputs):
        size = tuple(inputs.image.shape[-2:])
        if size not in self._targets:
            h, w = size
            with torch.no_grad():
                self._targets[size] = self.model.features(fit_tensor(self.target, w, h, self.options.fit), self.layers)
        features = step_features(inputs, self.options.model, self.model, views=False)
        return self.distance(features, self._targets[size])
