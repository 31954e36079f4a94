"""Building blocks shared by the ported networks: a convolution built from an ONNX Conv node,
and the int8 rounding the quantised graphs apply to their activations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .onnx_graph import ConvSpec, GraphMismatchError, GraphWeights


class GraphConv(nn.Module):
    """A Conv node of the graph: its (dequantised) weight and bias as buffers, so they are never
    trained, and its stride, padding and groups. Zero padding, as ONNX Conv pads; TF's 'SAME'
    padding of stride-2 convolutions arrives as asymmetric pads (0, 0, 1, 1) and is applied
    with F.pad."""

    def __init__(self, graph: GraphWeights, name: str, what: str, shape: tuple[int, ...] | None = None):
        super().__init__()
        spec: ConvSpec = graph.conv(name, what)
        weight = graph.tensor(spec.weight, what, shape)
        self.register_buffer("weight", weight.clone())
        self.register_buffer("bias", graph.tensor(spec.bias, what).clone() if spec.bias else None)
        if spec.bias and self.bias.shape != (weight.shape[0],):
            raise GraphMismatchError(graph.path, what, f"bias of '{name}' has shape {tuple(self.bias.shape)}")
        self.stride = spec.stride
        self.groups = spec.groups
        self.dilation = spec.dilation
        top, left, bottom, right = spec.pads
        self.symmetric = (top, left) == (bottom, right)
        self.padding = (top, left) if self.symmetric else 0
        self.explicit_pad = None if self.symmetric else (left, right, top, bottom)

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.explicit_pad is not None:
            x = F.pad(x, self.explicit_pad)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Quantizer(nn.Module):
    """Rounds activations to the int8 grid the graph uses at each named tensor (QuantizeLinear
    followed by DequantizeLinear), or passes them through when ``enabled`` is False.

    torch's fake quantisation rounds half to even like ONNX QuantizeLinear, saturates to
    [-128, 127], and passes gradients straight through inside that range (zero outside), so the
    ported network stays differentiable with respect to its inputs and the style embedding.
    """

    def __init__(self, graph: GraphWeights, names: list[str], what: str, enabled: bool = True):
        super().__init__()
        # Looked up now, so a graph lacking one fails when the model loads, not mid-run.
        self.points = {name: graph.quantization(name, what) for name in names}
        self.enabled = enabled

    def forward(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if not self.enabled:
            return x
        scale, zero_point = self.points[name]
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, -128, 127)


def reflect_pad(x: torch.Tensor, amount: int) -> torch.Tensor:
    return F.pad(x, (amount, amount, amount, amount), mode="reflect") if amount else x


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the bottom and right so both sides are multiples of ``multiple`` (the
    networks halve the size twice and double it twice); return the original size to crop to."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    return x, (h, w)
