"""The numbers inside an ONNX graph, as torch tensors, read once and cached.

The networks themselves are written here as torch modules (``cin26.py``, ``arbitrary.py``);
this module only hands them what the graph stores:

- every float initializer, by name;
- every int8/int32 initializer that a ``DequantizeLinear`` node turns into floats (quantised
  weights and biases), dequantised once: ``(q - zero_point) * scale`` per channel, stored under
  the node's output name;
- each ``Conv`` node's attributes (stride, padding, groups) with the names of its weight and bias;
- the (scale, zero point) of every activation the graph quantises (``QuantizeLinear`` of a
  computed tensor), by the name of the quantised tensor, so a port can reproduce the int8
  rounding;
- the graph's inputs, outputs and op counts, for the structure checks of each port.

onnxruntime cannot be differentiated through; reading the graph with the ``onnx`` package and
running it as torch code can. The result is cached in pixengine's cache directory as a tensor
file named by the ONNX file's SHA-256, so a changed file never meets a stale cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pixengine.errors import ConfigError
from pixengine.weights import cache_dir

#: Bumped when the cached layout changes.
CACHE_VERSION = 1
CACHE_FOLDER = "style_embedding"


@dataclass(frozen=True)
class ConvSpec:
    """One Conv node: names of its weight and bias in ``GraphWeights.tensors`` and its attributes."""

    weight: str
    bias: str | None
    stride: tuple[int, int]
    #: ONNX order: (top, left, bottom, right).
    pads: tuple[int, int, int, int]
    groups: int
    dilation: tuple[int, int]


@dataclass
class GraphWeights:
    path: Path
    sha256: str
    #: input/output name -> shape (ints; symbolic dimensions as strings).
    inputs: dict[str, list]
    outputs: dict[str, list]
    tensors: dict[str, torch.Tensor]
    #: Conv nodes by the name of their weight (without the ``_dequant`` suffix of QDQ graphs).
    convs: dict[str, ConvSpec]
    #: Quantised activations: tensor name -> (scale, zero point), int8.
    quant: dict[str, tuple[float, int]]
    op_counts: dict[str, int] = field(default_factory=dict)

    def conv(self, name: str, what: str) -> ConvSpec:
        if name not in self.convs:
            raise GraphMismatchError(self.path, what, f"no Conv node with weight '{name}'")
        return self.convs[name]

    def tensor(self, name: str, what: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        if name not in self.tensors:
            raise GraphMismatchError(self.path, what, f"no tensor '{name}'")
        value = self.tensors[name]
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise GraphMismatchError(self.path, what, f"'{name}' has shape {tuple(value.shape)}, expected {tuple(shape)}")
        return value

    def quantization(self, name: str, what: str) -> tuple[float, int]:
        if name not in self.quant:
            raise GraphMismatchError(self.path, what, f"the graph does not quantise '{name}'")
        return self.quant[name]


class GraphMismatchError(ConfigError):
    """The file is an ONNX graph, but not the network the port expects."""

    def __init__(self, path: Path | str, what: str, problem: str):
        super().__init__(f"'{path}' is not the {what} graph this port expects: {problem}", key="path")


# ------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _shape(value_info) -> list:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def _dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int) -> np.ndarray:
    """ONNX DequantizeLinear: ``(q - zero_point) * scale``, per tensor or along ``axis``."""
    values = q.astype(np.float64)
    zp = np.zeros_like(scale, dtype=np.float64) if zero_point is None else zero_point.astype(np.float64)
    if scale.ndim == 0 or scale.size == 1:
        return ((values - zp.reshape(())) * scale.astype(np.float64).reshape(())).astype(np.float32)
    shape = [1] * values.ndim
    shape[axis] = -1
    return ((values - zp.reshape(shape)) * scale.astype(np.float64).reshape(shape)).astype(np.float32)


def parse_graph(path: Path) -> dict:
    """Everything :class:`GraphWeights` holds, from the ONNX file (plain types and tensors)."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, truncated files...
        raise ConfigError(f"'{path}' is not a readable ONNX file: {type(exc).__name__}: {exc}", key="path") from None
    graph = model.graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    tensors: dict[str, torch.Tensor] = {}
    for name, array in arrays.items():
        if array.dtype in (np.float32, np.float64, np.float16):
            tensors[name] = torch.from_numpy(np.array(array, dtype=np.float32, copy=True))

    quant: dict[str, tuple[float, int]] = {}
    convs: dict[str, dict] = {}
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "DequantizeLinear" and node.input[0] in arrays:
            zero_point = arrays.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            value = _dequantize(arrays[node.input[0]], arrays[node.input[1]], zero_point, int(attrs.get("axis", 1)))
            tensors[node.output[0]] = torch.from_numpy(np.ascontiguousarray(value))
        elif node.op_type == "QuantizeLinear" and node.input[0] not in arrays:
            scale = arrays.get(node.input[1])
            zero_point = arrays.get(node.input[2]) if len(node.input) > 2 else None
            if scale is None or scale.size != 1 or (zero_point is not None and zero_point.dtype != np.int8):
                continue  # only per-tensor int8 activations are emulated; none other occur in these graphs
            quant[node.output[0]] = (float(scale.reshape(())), int(zero_point.reshape(())) if zero_point is not None else 0)
        elif node.op_type == "Conv":
            weight = node.input[1]
            key = weight[: -len("_dequant")] if weight.endswith("_dequant") else weight
            kernel = attrs.get("kernel_shape") or list(arrays.get(weight, np.zeros((0, 0, 1, 1))).shape[2:])
            convs[key] = {
                "weight": weight,
                "bias": node.input[2] if len(node.input) > 2 and node.input[2] else None,
                "stride": list(attrs.get("strides", [1] * len(kernel))),
                "pads": list(attrs.get("pads", [0] * 2 * len(kernel))),
                "groups": int(attrs.get("group", 1)),
                "dilation": list(attrs.get("dilations", [1] * len(kernel))),
            }
    return {
        "version": CACHE_VERSION,
        "inputs": {i.name: _shape(i) for i in graph.input if i.name not in arrays},
        "outputs": {o.name: _shape(o) for o in graph.output},
        "tensors": tensors,
        "convs": convs,
        "quant": {name: [scale, zp] for name, (scale, zp) in quant.items()},
        "op_counts": dict(Counter(node.op_type for node in graph.node)),
    }


# ------------------------------------------------------------------------------------------
# Caching
# ------------------------------------------------------------------------------------------


def cache_path(sha256: str) -> Path:
    return cache_dir() / CACHE_FOLDER / f"{sha256[:24]}.pt"


def _write_cache(target: Path, data: dict) -> None:
    """Atomically, and silently skipped where the cache is not writable (a read-only home)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    except OSError:
        return
    os.close(handle)
    try:
        torch.save(data, tmp)
        os.replace(tmp, target)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def _read_cache(target: Path) -> dict | None:
    if not target.is_file():
        return None
    try:
        data = torch.load(target, map_location="cpu", weights_only=True)
    except Exception:  # a truncated or foreign file: parse the graph again
        return None
    return data if isinstance(data, dict) and data.get("version") == CACHE_VERSION else None


def load_graph(path: str | Path, *, use_cache: bool = True) -> GraphWeights:
    """The weights of the ONNX graph at ``path`` (from the cache when it holds them)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ONNX file '{path}' not found", key="path")
    sha = file_sha256(path)
    data = _read_cache(cache_path(sha)) if use_cache else None
    if data is None:
        data = parse_graph(path)
        if use_cache:
            _write_cache(cache_path(sha), data)
    return GraphWeights(
        path=path,
        sha256=sha,
        inputs=dict(data["inputs"]),
        outputs=dict(data["outputs"]),
        tensors=dict(data["tensors"]),
        convs={
            name: ConvSpec(
                weight=c["weight"],
                bias=c["bias"],
                stride=tuple(c["stride"]),
                pads=tuple(c["pads"]),
                groups=int(c["groups"]),
                dilation=tuple(c["dilation"]),
            )
            for name, c in data["convs"].items()
        },
        quant={name: (float(s), int(z)) for name, (s, z) in data["quant"].items()},
        op_counts=dict(data["op_counts"]),
    )
