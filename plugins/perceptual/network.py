"""The VGG network as a feature extractor: named layers (Caffe names), any subset returned,
computed only as deep as the deepest layer asked for."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from .vgg_weights import ARCHS, CAFFE, conv_shapes

#: Caffe's ImageNet mean pixel in BGR order, 0-255 (what the original VGG weights expect).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: torchvision's ImageNet normalisation, RGB in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(arch: str) -> list[str]:
    """Every layer in order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ..."""
    names = []
    for b, block in enumerate(ARCHS[arch]):
        for i in range(len(block)):
            names += [f"conv{b + 1}_{i + 1}", f"relu{b + 1}_{i + 1}"]
        names.append(f"pool{b + 1}")
    return names


def downsampling_of(name: str) -> int:
    """How many times the input is halved before ``name`` (pool1 counts for itself)."""
    block = int(name[4] if name.startswith("pool") else name.split("_")[0][-1])
    return block if name.startswith("pool") else block - 1


class _InLayout(torch.autograd.Function):
    """The input in ``memory_format``, with its gradient handed back in torch's default layout.
    A plain ``.contiguous(memory_format=...)`` sends a channels-last gradient upstream, and
    some backward passes get that wrong: in torch 2.14.1 on the CPU, instance_norm's gradient
    for a channels-last incoming gradient differs from the right one by more than its own size,
    which sent the style-embedding networks (instance norms, then VGG) the wrong way."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
        return x.contiguous(memory_format=memory_format)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.contiguous(), None


class _ConvToLoad(nn.Conv2d):
    """A convolution whose weights are loaded right after it is made: torch's random start is
    skipped (torch.nn.utils.skip_init does the same through the meta device, whose first use
    costs more than the initialisation it saves)."""

    def reset_parameters(self) -> None:
        pass


class VGGFeatures(nn.Module):
    """VGG16/19 convolutions; ``forward(rgb, layers)`` -> {layer: activation}.

    ``rgb`` is (B, 3, H, W) in [0, 1]; the conversion to the weights' input convention (Caffe:
    BGR 0-255 minus the mean pixel; torchvision: normalised RGB) happens here so every caller
    passes ordinary images.
    """

    def __init__(
        self, arch: str = "vgg19", pooling: str = "avg", convention: str = CAFFE, channels_last: bool = False,
        initialize: bool = True,
    ):
        """``initialize=False`` leaves the convolutions' weights unset, for a caller that loads
        weights at once (torch's random initialisation of VGG19 costs about 0.1 s)."""
        super().__init__()
        self.arch, self.pooling, self.convention = arch, pooling, convention
        #: oneDNN's convolutions are faster on channels-last tensors (NHWC); the numbers are the same.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.names = layer_names(arch)
        layers = {}
        for name in self.names:
            if name.startswith("conv"):
                out, inp, _, _ = conv_shapes(arch)[name]
                layers[name] = (nn.Conv2d if initialize else _ConvToLoad)(inp, out, 3, padding=1)
            elif name.startswith("relu"):
                layers[name] = nn.ReLU()
            else:
                # Gatys et al. found average pooling gives smoother, nicer images than max.
                layers[name] = nn.AvgPool2d(2, 2) if pooling == "avg" else nn.MaxPool2d(2, 2)
        self.layers = nn.ModuleDict(layers)
        if convention == CAFFE:
            self.register_buffer("shift", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("scale", torch.ones(1, 3, 1, 1), persistent=False)
        else:
            self.register_buffer("shift", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("scale", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        if self.convention == CAFFE:
            return rgb.flip(1) * 255.0 - self.shift  # RGB -> BGR, 0-255, mean pixel removed
        return (rgb - self.shift) / self.scale

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        own = {f"layers.{k}": v for k, v in state.items()}
        missing, unexpected = self.load_state_dict(own, strict=False)
        if missing or unexpected:  # read_vgg checked the layout; this guards against drift
            raise ValueError(f"VGG weights do not fit: missing {missing}, unexpected {unexpected}")
        self.to(memory_format=self.memory_format)

    def forward(self, rgb: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        last = max(self.names.index(name) for name in wanted)
        x, out = self.preprocess(rgb), {}
        if self.memory_format is not torch.contiguous_format:
            x = _InLayout.apply(x, self.memory_format)
        for name in self.names[: last + 1]:
            x = self.layers[name](x)
            if name in wanted:
                out[name] = x
        return out
