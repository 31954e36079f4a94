"""The CLIP losses on tiny open_clip models: gradients, how weights combine, negative prompts,
stops and ranges, image prompts, one encoding per model per step, the directional loss."""

from __future__ import annotations

import json
import math
import types

import pytest
import torch
import torch.nn.functional as F
import yaml
from pixengine.testing.tiny_clip import make_tiny_clip
from PIL import Image

import pixengine
from pixengine import ConfigError, StepInputs
from pixengine_plugins.clip.shared import clip_models


@pytest.fixture(scope="module")
def tiny_wide(tmp_path_factory):
    """A second tiny CLIP with another input size (48) and other weights."""
    return make_tiny_clip(tmp_path_factory.mktemp("tiny_wide"), name="pixengine-tiny-clip-48", image_size=48, seed=1)


def model_section(tiny) -> dict:
    return {"type": "open_clip", "arch": tiny.arch, "path": str(tiny.path), "pretrained": None}


def prepare(tmp_path, losses, *, models=None, augmentations=None, **top):
    body = {
        "steps": 3, "width": 32, "height": 32, "seed": 0, "progress": False, "save_every": 0,
        "parameterization": {"type": "pixels"}, "models": models, "augmentations": augmentations or {}, "losses": losses,
    }
    body.update(top)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump(body))
    return pixengine.prepare(path, output_dir=str(tmp_path / "out"))


def step_inputs(run, step: int = 0) -> StepInputs:
    image = run.parameterization()
    views = run.chain(image) if run.chain is not None else None
    return StepInputs(image=image, views=views, step=step, steps=run.settings.steps, augment=run.chain)


def losses_of(run) -> dict:
    return {spec.label: loss for spec, loss in run.losses}


def text_distance(model, images: torch.Tensor, text: str) -> torch.Tensor:
    """Half the squared angle between each image's and the text's embedding, computed here
    from open_clip directly (not through pixengine's distance)."""
    size = model.input_size
    x = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        e = F.normalize(model.clip.encode_image((x - model.mean) / model.std), dim=-1)
        t = F.normalize(model.clip.encode_text(model.tokenizer([text])), dim=-1)
    angle = torch.arccos((e @ t.T).clamp(-1, 1)).squeeze(1)
    return angle.pow(2) / 2


@pytest.mark.parametrize(
    "loss",
    [
        {"type": "clip", "prompt": "a red barn"},
        {"type": "clip_direction", "source": "a photo", "target": "a watercolour"},
    ],
    ids=["clip", "clip_direction"],
)
def test_gradients_reach_the_parameterization(tmp_path, tiny_clip, loss):
    run = prepare(
        tmp_path, {"guide": loss}, models={"clip": model_section(tiny_clip)},
        augmentations={"cut": {"type": "cutouts", "count": 3}, "affine": {"type": "affine"}},
    )
    value = losses_of(run)["guide"](step_inputs(run))
    value.backward()
    grad = run.parameterization.logits.grad
    assert grad is not None and grad.abs().sum() > 0
    assert all(p.grad is None for p in run.ctx.models["clip"].parameters())  # models stay frozen


def test_model_and_prompt_weights_combine_as_documented(tmp_path, tiny_clip, tiny_wide):
    singles = {f"{m}_{t}": {"type": "clip", "models": {m: 1.0}, "prompt": t} for m in ("a", "b") for t in ("red", "blue")}
    run = prepare(
        tmp_path,
        {"combo": {"type": "clip", "models": {"a": 0.7, "b": 0.3}, "prompt": "red:2 | blue:-0.5"}, **singles},
        models={"a": model_section(tiny_clip), "b": model_section(tiny_wide)},
        augmentations={"cut": {"type": "cutouts", "count": 4}},
    )
    inputs = step_inputs(run)
    assert inputs.views.shape == (4, 3, 48, 48)  # cutouts take the largest model input
    v = {label: float(loss(inputs).detach()) for label, loss in losses_of(run).items()}
    expected = 0.7 * (2 * v["a_red"] - 0.5 * v["a_blue"]) + 0.3 * (2 * v["b_red"] - 0.5 * v["b_blue"])
    assert v["combo"] == pytest.approx(expected, rel=1e-5)
    for m in ("a", "b"):  # each single term is the mean over views of the distance to the text
        reference = text_distance(run.ctx.models[m], inputs.views.detach(), "red").mean()
        assert v[f"{m}_red"] == pytest.approx(float(reference), rel=1e-4)
    assert sorted(k for k in inputs.memo if k[0] == "embed_images") == [("embed_images", "a"), ("embed_images", "b")]


def test_negative_prompts_push_away_and_positive_ones_pull(tmp_path, tiny_clip):
    distances = {}
    for sign in (1, -1):
        run = prepare(
            tmp_path / str(sign), {"text": {"type": "clip", "prompt": f"a red apple:{sign}"}},
            models={"clip": model_section(tiny_clip)}, steps=6, optimizer={"lr": 0.1},
        )
        model = run.ctx.models["clip"]
        with torch.no_grad():
            start = float(text_distance(model, run.parameterization(), "a red apple"))
        result = run.execute()
        distances[sign] = (start, float(text_distance(model, result.tensor, "a red apple")))
    assert distances[1][0] == distances[-1][0]  # same seed, same start
    assert distances[1][1] < distances[1][0] < distances[-1][1]


def test_a_prompt_past_its_stop_keeps_its_value_but_stops_pulling(tmp_path, tiny_clip):
    run = prepare(
        tmp_path,
        {
            "free": {"type": "clip", "prompt": "red"},
            "stopped": {"type": "clip", "prompt": "red:1:10"},  # distances are below 10: stopped
            "never": {"type": "clip", "prompt": "red:1:0"},  # distances are above 0: pulls
            "away_stopped": {"type": "clip", "prompt": "red:-1:0"},  # negative: stops above 0
            "away_pushing": {"type": "clip", "prompt": "red:-1:10"},  # negative, not yet above 10: pushes
        },
        models={"clip": model_section(tiny_clip)},
    )
    inputs = step_inputs(run)
    values, grads = {}, {}
    for label, loss in losses_of(run).items():
        run.parameterization.logits.grad = None
        value = loss(inputs)
        value.backward(retain_graph=True)
        values[label], grads[label] = float(value.detach()), run.parameterization.logits.grad.abs().sum()
    assert values["stopped"] == values["free"] == values["never"] == pytest.approx(-values["away_stopped"])
    assert grads["stopped"] == 0 and grads["away_stopped"] == 0
    assert grads["never"] > 0 and torch.isclose(grads["never"], grads["free"])
    assert values["away_pushing"] == pytest.approx(values["away_stopped"]) and torch.isclose(grads["away_pushing"], grads["free"])


def test_a_prompt_pulls_only_inside_its_step_range(tmp_path, tiny_clip):
    run = prepare(
        tmp_path,
        {"late": {"type": "clip", "prompt": "red@2-"}, "always": {"type": "clip", "prompt": "red"}},
        models={"clip": model_section(tiny_clip)}, steps=4,
    )
    losses = losses_of(run)
    early, late = step_inputs(run, step=0), step_inputs(run, step=2)
    assert float(losses["late"](early).detach()) == 0
    assert float(losses["late"](late).detach()) == pytest.approx(float(losses["always"](late).detach()))


def test_an_image_prompt_is_near_its_own_image(tmp_path, tiny_clip):
    torch.manual_seed(3)
    for name in ("same", "other"):
        pixels = (torch.rand(32, 32, 3) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    run = prepare(
        tmp_path,
        {
            "same": {"type": "clip", "images": {str(tmp_path / "same.png"): 1.0}},
            "other": {"type": "clip", "images": {str(tmp_path / "other.png"): 1.0}},
        },
        models={"clip": model_section(tiny_clip)},
        parameterization={"type": "pixels", "init_image": str(tmp_path / "same.png"), "init_noise": 0.0},
    )
    inputs = step_inputs(run)
    losses = losses_of(run)
    same, other = float(losses["same"](inputs).detach()), float(losses["other"](inputs).detach())
    assert same < 1e-4 < other
    assert set(losses["same"].references()) == {"image prompt 1"}


def test_the_image_is_encoded_once_per_model_per_step_and_texts_once_per_run(tmp_path, tiny_clip, monkeypatch):
    run = prepare(
        tmp_path,
        {
            "t1": {"type": "clip", "prompt": "red"},
            "t2": {"type": "clip", "prompt": "blue:-0.3"},
            "dir": {"type": "clip_direction", "target": "a painting", "replay": False},
        },
        models={"clip": model_section(tiny_clip)}, augmentations={"cut": {"type": "cutouts", "count": 2}}, steps=3,
    )
    clip = run.ctx.models["clip"].clip
    calls = {"image": 0, "text": 0}

    def counting(kind, original):
        def wrapper(*args, **kwargs):
            calls[kind] += 1
            return original(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(clip, "encode_image", counting("image", clip.encode_image))
    monkeypatch.setattr(clip, "encode_text", counting("text", clip.encode_text))
    result = run.execute()
    assert result.status == "finished"
    # one shared encoding per step, plus the starting image's once for the directional loss
    assert calls == {"image": 3 + 1, "text": 0}


def test_each_loss_is_logged_per_step(tmp_path, tiny_clip):
    run = prepare(
        tmp_path, {"text": {"type": "clip", "prompt": "red"}, "smooth": {"type": "tv", "weight": 0.1}},
        models={"clip": model_section(tiny_clip)}, steps=2,
    )
    run.execute()
    records = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(set(r["raw"]) == {"text", "smooth"} and math.isfinite(r["raw"]["text"]) for r in records)


def test_direction_starts_at_one_and_falls_as_the_image_changes_towards_the_target(tmp_path, tiny_clip):
    run = prepare(
        tmp_path, {"dir": {"type": "clip_direction", "source": "a photo", "target": "a red painting"}},
        models={"clip": model_section(tiny_clip)}, steps=4, optimizer={"lr": 0.05},
    )
    values = [record["raw"]["dir"] for record in run.execute().history]
    # No change yet: cos = 0 up to rounding (the step's image is encoded with gradients, the
    # start without, which takes other kernels).
    assert values[0] == pytest.approx(1.0, abs=1e-3)
    assert max(values[1:]) < 0.9


def test_direction_replays_the_steps_views_on_the_starting_image(tmp_path, tiny_clip):
    run = prepare(
        tmp_path, {"dir": {"type": "clip_direction", "target": "a red painting"}},
        models={"clip": model_section(tiny_clip)}, augmentations={"cut": {"type": "cutouts", "count": 3}, "jitter": {"type": "color_jitter"}},
    )
    loss = losses_of(run)["dir"]
    inputs = step_inputs(run)
    assert float(loss(inputs).detach()) == pytest.approx(1.0, abs=1e-3)  # same views of the same image
    model = run.ctx.models["clip"]
    start = inputs.memo[("clip_direction_start", id(loss), "clip")]
    with torch.no_grad():
        assert torch.allclose(start, model.embed_images(run.chain.replay(loss._start)), atol=1e-6)
        assert torch.allclose(start, model.embed_images(inputs.views), atol=1e-5)


def test_direction_keeps_no_state_from_scoring_before_step_one(tmp_path, tiny_clip):
    run = prepare(
        tmp_path, {"dir": {"type": "clip_direction", "target": "a painting", "models": {"clip": 2.0}}},
        models={"clip": model_section(tiny_clip)},
    )
    loss = losses_of(run)["dir"]
    candidate = torch.rand(1, 3, 32, 32)
    scored = loss(StepInputs(image=candidate, views=None, step=-1, steps=3))
    assert float(scored) == 2.0 and loss._start is None
    inputs = step_inputs(run)
    loss(inputs)
    assert torch.equal(loss._start, inputs.image.detach())


def test_a_malformed_prompt_stops_validation_with_a_caret(tmp_path):
    with pytest.raises(ConfigError) as info:
        pixengine.resolve("clip_pixels", prompt="a lighthouse:1:0.5:2")
    # The run's prompt is blamed where it was given (here the command line), not on the preset.
    assert info.value.key == "prompt" and str(info.value).startswith("command line: prompt: malformed prompt")
    assert str(info.value).splitlines()[-1] == "  " + " " * len("a lighthouse:1:0.5") + "^"
    with pytest.raises(ConfigError) as info:
        pixengine.resolve("clip_pixels", **{"losses.text.prompt": "a | | b"})
    assert info.value.key == "losses.text.prompt"


def test_no_prompt_at_all_is_an_error(tmp_path, tiny_clip):
    with pytest.raises(ConfigError, match="no prompt"):
        prepare(tmp_path, {"text": {"type": "clip"}}, models={"clip": model_section(tiny_clip)})


def test_the_runs_prompt_is_used_when_the_loss_has_none(tmp_path, tiny_clip):
    run = prepare(tmp_path, {"text": {"type": "clip"}}, models={"clip": model_section(tiny_clip)}, prompt="a cat:2 | a dog:-1")
    assert [(p.text, p.weight) for p in losses_of(run)["text"].prompts] == [("a cat", 2.0), ("a dog", -1.0)]


def test_losses_refuse_models_that_are_not_clip():
    ctx = types.SimpleNamespace(model=lambda label: types.SimpleNamespace(name="vgg"), models={})
    with pytest.raises(ConfigError, match=r"model 'style' \(type 'vgg'\) does not provide ImageTextEmbedder"):
        clip_models(ctx, {"style": 1.0})
    with pytest.raises(ConfigError, match="at least one CLIP model"):
        clip_models(ctx, {})
    with pytest.raises(ConfigError, match="the run has no CLIP model"):
        clip_models(ctx, None)


def test_a_models_weight_that_is_not_finite_is_refused_naming_the_model(tiny_clip, tmp_path):
    run = prepare(tmp_path, {"text": {"type": "clip", "prompt": "a cat"}}, models={"clip": model_section(tiny_clip)})
    for weight in (float("nan"), float("inf")):
        with pytest.raises(ConfigError) as info:
            clip_models(run.ctx, {"clip": weight}, key="losses.text.models")
        assert info.value.key == "losses.text.models"
        assert info.value.detail == f"the weight of model 'clip' must be finite, got {weight}"


def test_an_unknown_model_label_is_caught_by_validation():
    with pytest.raises(ConfigError) as info:
        pixengine.resolve("clip_pixels", **{"losses.text.models": {"clipp": 1.0}})
    assert info.value.key == "losses.text.models"
    assert "did you mean 'clip'" in str(info.value)


# -- masked prompts ----------------------------------------------------------------------------


def left_half_mask(tmp_path, width=32, height=32) -> str:
    path = tmp_path / "left.png"
    array = torch.zeros(height, width, 3, dtype=torch.uint8)
    array[:, : width // 2] = 255
    Image.fromarray(array.numpy()).save(path)
    return str(path)


def masked_run(tmp_path, tiny_clip, mask, count=64):
    cuts = {"type": "cutouts", "count": count, "zoom_fraction": 1.0, "min_scale": 0.1, "cut_pow": 3.0}
    return prepare(
        tmp_path, {"text": {"type": "clip", "prompt": "a red barn", "mask": mask}}, models={"clip": model_section(tiny_clip)},
        augmentations={"cut": cuts, "noise": {"type": "noise", "amount": 0.3}},
    )


def test_a_mask_weighs_each_view_by_the_part_of_the_mask_it_shows(tmp_path, tiny_clip):
    run = masked_run(tmp_path, tiny_clip, left_half_mask(tmp_path))
    inputs = step_inputs(run)
    weights = losses_of(run)["text"].view_weights(inputs)
    boxes = run.chain.last_params[0]["boxes"]  # (V, 4, 2) corners in pixels
    left, right = boxes[:, :, 0].min(dim=1).values, boxes[:, :, 0].max(dim=1).values
    inside, outside = right < 15, left > 16  # wholly over the white half / the black half
    assert inside.any() and outside.any()
    assert torch.all(weights[outside] == 0)
    assert torch.all(weights[inside] > 0)
    assert weights.sum().item() == pytest.approx(1.0)
    # Views wholly inside the mask see all of it: equal weights, the largest there are. The
    # noise link (not geometric) is left out of the mask's replay.
    assert torch.allclose(weights[inside], weights.max().expand(int(inside.sum())))


def test_a_masked_prompt_pulls_on_its_region_more_than_elsewhere(tmp_path, tiny_clip):
    def gradient_quarters(run):
        image = run.parameterization()
        image.retain_grad()
        views = run.chain(image)
        inputs = StepInputs(image=image, views=views, step=0, steps=3, augment=run.chain)
        losses_of(run)["text"](inputs).backward()
        grad = image.grad.abs()
        return grad[..., :8].sum().item(), grad[..., 24:].sum().item()  # the outer quarters

    masked_left, masked_right = gradient_quarters(masked_run(tmp_path / "m", tiny_clip, left_half_mask(tmp_path)))
    plain_left, plain_right = gradient_quarters(masked_run(tmp_path / "p", tiny_clip, None))
    # A view partly over the mask pulls on all its pixels, so the far side still gets some
    # gradient; measured 2.75 against 1.02 without the mask.
    assert masked_left > 2 * masked_right
    assert 2 / 3 < plain_left / plain_right < 3 / 2  # without the mask, both sides pull alike


@pytest.mark.parametrize("augmentations", [None, {"noise": {"type": "noise"}}], ids=["no chain", "no geometric link"])
def test_a_mask_needs_views_of_parts_of_the_image(tmp_path, tiny_clip, augmentations):
    with pytest.raises(ConfigError, match=r"losses\.text\.mask: a mask weighs the augmentation chain's views"):
        prepare(tmp_path, {"text": {"type": "clip", "prompt": "a barn", "mask": left_half_mask(tmp_path)}},
                models={"clip": model_section(tiny_clip)}, augmentations=augmentations)


def test_a_rerun_with_a_new_prompt_steers_clip_by_it(tmp_path, tiny_clip):
    """The loss reads the run's prompt (its own is empty), so the recorded config keeps it that
    way and `--from PNG prompt=...` really changes what CLIP pulls towards."""
    made = pixengine.run("clip_pixels", "a lighthouse", steps=1, width=32, height=32, progress=False, save_every=0,
                         output_dir=str(tmp_path / "a"), **tiny_clip.overrides("clip"))
    again = pixengine.prepare(from_image=made.final_path, prompt="a dog:2", output_dir=str(tmp_path / "b"))
    assert [(p.text, p.weight) for p in losses_of(again)["text"].prompts] == [("a dog", 2.0)]
