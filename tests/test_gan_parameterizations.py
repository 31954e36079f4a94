"""The vqgan and stylegan2 parameterizations, their start strategies (random, image, top-k),
the latent_anchor loss, and runs through the engine with tiny generators."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import yaml

import pixengine
from pixengine.components import StepInputs
from pixengine.optim import lr_factor
from pixengine.schema import OptimizerSettings
from pixengine_plugins.gan.losses import LatentAnchor, LatentAnchorOptions
from pixengine_plugins.gan.models import StyleGAN2Model, StyleGAN2Options, VQGANModel, VQGANOptions
from pixengine_plugins.gan.parameterizations import StyleGAN2Latent, StyleGAN2LatentOptions, VQGANLatent, VQGANLatentOptions

from gan_fixtures import make_ctx, save_image, save_stylegan2_checkpoint, save_vqgan_checkpoint


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIXENGINE_OFFLINE", "1")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generators")
    return {"vqgan": save_vqgan_checkpoint(folder / "vqgan.ckpt"), "stylegan2": save_stylegan2_checkpoint(folder / "stylegan2.pt")}


@pytest.fixture(scope="module")
def generators(checkpoints):
    return {
        "vqgan": VQGANModel(VQGANOptions(path=str(checkpoints["vqgan"])), make_ctx()),
        "stylegan2": StyleGAN2Model(StyleGAN2Options(path=str(checkpoints["stylegan2"])), make_ctx()),
    }


def vqgan_latent(generators, width=32, height=32, **options) -> VQGANLatent:
    torch.manual_seed(0)
    return VQGANLatent(VQGANLatentOptions(**options), make_ctx(width, height, generators))


def stylegan2_latent(generators, width=16, height=16, **options) -> StyleGAN2Latent:
    torch.manual_seed(0)
    return StyleGAN2Latent(StyleGAN2LatentOptions(**options), make_ctx(width, height, generators))


def assert_image_contract(parameterization, width, height):
    image = parameterization()
    assert image.shape == (1, 3, height, width)
    assert image.min() >= 0 and image.max() <= 1
    assert image.std() > 0.01  # a picture, not a flat or fully saturated field
    (image * torch.randn_like(image)).sum().backward()
    for group in parameterization.param_groups():
        for p in group["params"]:
            assert p.grad is not None and p.grad.abs().sum() > 0, group["name"]


# -- vqgan -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(32, 32), (30, 22)])
def test_vqgan_image_contract(generators, size):
    p = vqgan_latent(generators, *size)
    assert p.grid == (math.ceil(size[1] / 4), math.ceil(size[0] / 4))
    assert [g["name"] for g in p.param_groups()] == ["latent"]
    assert_image_contract(p, *size)
    assert not any(q.requires_grad for q in generators["vqgan"].parameters())


def test_vqgan_random_start_is_made_of_codebook_entries(generators):
    p = vqgan_latent(generators)
    cells = p.start_latent[0].movedim(0, -1).reshape(-1, 8)
    codes = generators["vqgan"].codebook
    assert (cells[:, None, :] == codes[None]).all(-1).any(1).all()
    assert torch.equal(p.latent(), p.start_latent)


def test_vqgan_straight_through_quantisation(generators):
    p = vqgan_latent(generators, quantize=True, clamp_latent=False)
    gen = generators["vqgan"]
    with torch.no_grad():
        p.bank.basis.add_(0.3 * torch.randn_like(p.bank.basis))  # off the codes
        snapped = gen.net.quantize.lookup(gen.net.quantize.indices(p.bank.basis))
        image = p()
        # The decoder sees the nearest codes...
        assert torch.equal(image, p.render(snapped))
        # ...so a move that stays nearest to the same codes leaves the image unchanged.
        nudged = p.bank.basis + 1e-4 * (snapped - p.bank.basis)
        assert torch.equal(p.render(nudged), image)
    # ...while the gradient reaches the continuous latent as if the snap were not there.
    image = p()
    image.mean().backward()
    assert p.bank.basis.grad.abs().sum() > 0
    free = vqgan_latent(generators, quantize=False, clamp_latent=False)
    with torch.no_grad():
        free.bank.basis.copy_(p.bank.basis)
        assert not torch.equal(free(), image.detach())


def test_vqgan_latent_is_clamped_to_the_codebook_range(generators):
    p = vqgan_latent(generators, clamp_latent=True)
    with torch.no_grad():
        p.bank.basis.mul_(50)
    p()
    codes = generators["vqgan"].codebook
    per_channel = p.bank.basis.detach().movedim(1, -1).reshape(-1, codes.shape[1])
    assert (per_channel <= codes.max(0).values + 1e-6).all() and (per_channel >= codes.min(0).values - 1e-6).all()


def test_vqgan_image_start_is_the_encoders_latent_and_refining_improves_it(generators, tmp_path):
    target = save_image(tmp_path / "target.png", torch.rand(1, 3, 4, 4).repeat_interleave(4, -1).repeat_interleave(4, -2))
    gen = generators["vqgan"]
    encoded = vqgan_latent(generators, 16, 16, init="image", init_image=str(target), quantize=False)
    loaded = encoded.ctx.load_image(str(target))
    assert torch.equal(encoded.start_latent, gen.encode(loaded))
    refined = vqgan_latent(generators, 16, 16, init="image", init_image=str(target), quantize=False, init_steps=15, init_lr=0.1)
    with torch.no_grad():
        before, after = F.mse_loss(encoded(), loaded), F.mse_loss(refined(), loaded)
    assert after < 0.8 * before
    assert "init image" in refined.references()


# -- stylegan2 -------------------------------------------------------------------------------


@pytest.mark.parametrize("space,size", [("w+", (16, 16)), ("w", (24, 12))])
def test_stylegan2_image_contract(generators, space, size):
    p = stylegan2_latent(generators, *size, space=space)
    gen = generators["stylegan2"]
    expected = (1, gen.n_latent, gen.style_dim) if space == "w+" else (1, gen.style_dim)
    assert p.latent().shape == expected
    assert_image_contract(p, *size)


def test_stylegan2_truncation_pulls_the_start_to_the_mean(generators):
    gen = generators["stylegan2"]
    at_mean = stylegan2_latent(generators, space="w", truncation=0.0)
    assert torch.allclose(at_mean.start_latent, gen.latent_avg)
    torch.manual_seed(0)
    w = gen.mapping(torch.randn(1, gen.style_dim))
    untruncated = stylegan2_latent(generators, space="w", truncation=1.0)
    assert torch.allclose(untruncated.start_latent, w, atol=1e-6)
    half = stylegan2_latent(generators, space="w", truncation=0.5)
    assert torch.allclose(half.start_latent, gen.latent_avg + 0.5 * (w - gen.latent_avg), atol=1e-6)


def test_stylegan2_image_inversion_reconstructs_a_reachable_image(generators, tmp_path):
    gen = generators["stylegan2"]
    torch.manual_seed(1)
    with torch.no_grad():
        w = gen.latent_avg + 0.8 * (gen.mapping(torch.randn(1, gen.style_dim)) - gen.latent_avg)
        target_tensor = gen.synthesis(w).add(1).div(2).clamp(0, 1)
    target = save_image(tmp_path / "face.png", target_tensor)
    start = stylegan2_latent(generators, init="image", init_image=str(target), init_steps=0)
    inverted = stylegan2_latent(generators, init="image", init_image=str(target), init_steps=40, init_lr=0.05)
    loaded = start.ctx.load_image(str(target))
    with torch.no_grad():
        assert torch.allclose(start.start_latent, gen.latent_avg.expand(gen.n_latent, -1)[None])
        before, after = F.mse_loss(start(), loaded), F.mse_loss(inverted(), loaded)
    assert after < 0.5 * before


def test_a_model_of_the_wrong_kind_is_rejected(generators):
    with pytest.raises(pixengine.ConfigError, match="model 'stylegan2' is a 'stylegan2' model; parameterization 'vqgan' needs a 'vqgan' model") as info:
        VQGANLatent(VQGANLatentOptions(model="stylegan2"), make_ctx(models=generators))
    assert info.value.key == "model"


@pytest.mark.parametrize("options,message", [({"init": "image"}, "needs init_image"), ({"init": "topk", "topk": 9, "topk_samples": 4}, "cannot exceed")])
def test_start_options_are_validated(options, message):
    with pytest.raises(ValueError, match=message):
        StyleGAN2LatentOptions(**options)


# -- through the engine ----------------------------------------------------------------------


def write_preset(tmp_path, name, document) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def gan_run(tmp_path, kind, checkpoints, target, *, steps=6, parameterization=None, losses=None, **settings):
    size = 16
    document = {
        "steps": steps, "width": size, "height": size, "seed": 3, "save_every": 0, "progress": False,
        "output_dir": str(tmp_path / "out"),
        "optimizer": {"lr": 0.05},
        "models": {kind: {"type": kind, "path": str(checkpoints[kind])}},
        "parameterization": {"type": kind, **(parameterization or {})},
        "losses": losses if losses is not None else {"look": {"type": "target_image", "image": str(target)}},
        **settings,
    }
    return write_preset(tmp_path, f"{kind}_test", document)


@pytest.fixture
def target(tmp_path):
    torch.manual_seed(7)
    return save_image(tmp_path / "target.png", torch.rand(1, 3, 4, 4).repeat_interleave(8, -1).repeat_interleave(8, -2))


@pytest.mark.parametrize("kind", ["vqgan", "stylegan2"])
def test_engine_run_lowers_the_loss_and_reproduces(tmp_path, checkpoints, target, kind):
    options = {"quantize": False} if kind == "vqgan" else {}
    preset = gan_run(tmp_path, kind, checkpoints, target, steps=8, parameterization=options, optimizer={"lr": 0.1})
    first = pixengine.run(preset)
    assert first.status == "finished" and first.final_path.is_file()
    totals = [record["total"] for record in first.history]
    assert totals[-1] < totals[0]
    again = pixengine.run(preset, output_dir=str(tmp_path / "again"))
    assert torch.equal(first.tensor, again.tensor)


def brute_force_scores(parameterization, candidates, target):
    with torch.no_grad():
        return torch.stack([F.mse_loss(parameterization.render(c[None]), target) for c in candidates])


@pytest.mark.parametrize("kind", ["stylegan2", "vqgan"])
def test_topk_start_picks_the_lowest_loss_samples(tmp_path, checkpoints, target, kind):
    topk = {"init": "topk", "topk_samples": 10, "topk": 3, "topk_batch": 4, "topk_mixture": False}
    run = pixengine.prepare(gan_run(tmp_path, kind, checkpoints, target, parameterization=topk))
    p = run.parameterization
    result = p.topk_result
    assert result.candidates.shape[0] == 10 and result.scores.shape == (10,)
    loaded = run.ctx.load_image(str(target))
    brute = brute_force_scores(p, result.candidates, loaded)
    assert torch.allclose(result.scores, brute, atol=1e-6)
    assert torch.equal(result.chosen, torch.argsort(brute)[:3])
    assert len(set(brute.tolist())) == 10  # distinct samples, so the choice is meaningful
    # Without a mixture the run starts from the single best sample.
    assert torch.equal(p.latent(), result.candidates[result.chosen[0]][None])
    assert torch.equal(p.start_latent, p.latent())


def test_topk_mixture_is_optimised_and_anchors_at_its_start(tmp_path, checkpoints, target):
    topk = {"init": "topk", "topk_samples": 6, "topk": 3, "topk_batch": 6, "topk_mixture": True}
    losses = {"look": {"type": "target_image", "image": str(target)}, "anchor": {"type": "latent_anchor", "weight": 0.01}}
    run = pixengine.prepare(gan_run(tmp_path, "stylegan2", checkpoints, target, parameterization=topk, losses=losses))
    p = run.parameterization
    assert p.bank.basis.shape[0] == 3 and p.bank.logits.shape == p.bank.basis.shape
    assert torch.equal(p.bank.basis.detach(), p.topk_result.best)
    assert torch.allclose(p.start_latent, p.latent())
    assert [g["name"] for g in p.param_groups()] == ["latent", "mixture"]
    assert {g["name"] for g in run.optimizer.param_groups} == {"latent", "mixture"}
    assert_image_contract(p, 16, 16)
    result = run.execute()
    assert result.status == "finished"
    assert result.history[0]["raw"]["anchor"] == 0.0 and result.history[-1]["raw"]["anchor"] > 0


# -- latent_anchor ---------------------------------------------------------------------------


def test_latent_anchor_measures_the_squared_distance_from_the_start(generators):
    p = stylegan2_latent(generators)
    ctx = p.ctx
    ctx.parameterization = p
    anchor = LatentAnchor(LatentAnchorOptions(), ctx)
    image = p()
    inputs = StepInputs(image=image, views=None, step=0, steps=10)
    assert anchor(inputs) == 0
    with torch.no_grad():
        p.bank.basis.add_(0.5)
    assert torch.isclose(anchor(inputs), torch.tensor(0.25 * p.bank.basis.numel()))
    mean = LatentAnchor(LatentAnchorOptions(reduction="mean"), ctx)
    assert torch.isclose(mean(inputs), torch.tensor(0.25))
    assert anchor(StepInputs(image=image, views=None, step=-1, steps=10)) == 0  # candidate scoring


def test_latent_anchor_keeps_the_result_near_the_start(tmp_path, checkpoints, target):
    def distance(weight):
        losses = {"look": {"type": "target_image", "image": str(target)}, "anchor": {"type": "latent_anchor", "weight": weight}}
        run = pixengine.prepare(gan_run(tmp_path, "stylegan2", checkpoints, target, steps=10, losses=losses, optimizer={"lr": 0.1}))
        run.execute()
        p = run.parameterization
        return (p.latent() - p.start_latent).pow(2).sum().item()

    free, anchored = distance(0.0), distance(0.5)
    assert free > 0
    assert anchored < 0.5 * free


def test_latent_anchor_needs_a_latent_parameterization(tmp_path, target):
    preset = write_preset(tmp_path, "pixels_anchor", {
        "steps": 1, "width": 16, "height": 16, "progress": False, "output_dir": str(tmp_path / "out"),
        "losses": {"look": {"type": "target_image", "image": str(target)}, "anchor": {"type": "latent_anchor"}},
    })
    with pytest.raises(pixengine.ConfigError, match=r"losses\.anchor: loss 'latent_anchor' needs a parameterization with a latent .* 'pixels'"):
        pixengine.prepare(preset)


def test_styleclip_learning_rate_ramp_is_the_cores_warmup_and_rampdown():
    """StyleCLIP's get_lr(t) = lr * (0.5 - 0.5 cos(pi * min(1, (1 - t) / 0.25))) * min(1, t / 0.05),
    t = step / steps; the preset expresses it as rampdown 0.25 and warmup 0.05 * steps."""
    steps = 300
    settings = OptimizerSettings(warmup=15, rampdown=0.25)
    for step in range(steps):
        t = step / steps
        styleclip = (0.5 - 0.5 * math.cos(math.pi * min(1.0, (1 - t) / 0.25))) * min(1.0, t / 0.05)
        # The core's warm-up counts the first step as 1/15 where StyleCLIP's gives 0.
        assert abs(lr_factor(settings, step, steps) - styleclip) <= 1 / 15 + 1e-9
        if step >= 15:
            assert math.isclose(lr_factor(settings, step, steps), styleclip, abs_tol=1e-9)


def test_a_missing_generator_stops_before_step_one_naming_the_model(tmp_path, target):
    preset = write_preset(tmp_path, "no_weights", {
        "steps": 1, "width": 16, "height": 16, "progress": False, "output_dir": str(tmp_path / "out"),
        "models": {"sg": {"type": "stylegan2"}},
        "parameterization": {"type": "stylegan2", "model": "sg"},
        "losses": {"look": {"type": "target_image", "image": str(target)}},
    })
    with pytest.raises(pixengine.WeightsNotFoundError, match="models.sg: weights for model 'stylegan2 \\(stylegan2-ffhq-config-f\\)'"):
        pixengine.prepare(preset)
    bad_label = yaml.safe_load(open(preset))
    bad_label["parameterization"]["model"] = "gan"
    with pytest.raises(pixengine.ConfigError, match="parameterization.model: no model labelled 'gan'"):
        pixengine.prepare(write_preset(tmp_path, "bad_label", bad_label))
