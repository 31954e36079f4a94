"""The contracts every component keeps, as checks a plugin author runs on their own components
and pixengine runs on every component it ships.

Each check builds the component the way a run does (config validation, options, run context,
the engine) on a small canvas, so what passes here works in a run. A check raises
``AssertionError`` with a message naming the component and what broke, or ``pytest.skip``s
when it does not apply (a component without constraints to break).

    from pixengine.testing import check_loss
    check_loss("vignette", tmp_path)                                     # every check
    check_loss("clip", tmp_path, config={"models": {...}}, options={"prompt": "a cat"})

    LossContract("vignette", tmp_path).check_gradient()                  # one check

``config`` is more run config merged over the contract's base (models the component needs, a
chain...), or a callable ``(tmp_path) -> dict`` that first writes files it needs; ``options``
are the component's own options. Build tiny models in tests and load them through the same
code as real weights (``pixengine.testing.make_tiny_clip``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

#: The canvas components are built on, and the size a resize grows it to (non-integer factors).
WIDTH, HEIGHT = 40, 32
GROWN = (56, 40)

BASE_CONFIG = {
    "steps": 2,
    "width": WIDTH,
    "height": HEIGHT,
    "seed": 0,
    "progress": False,
    "save_every": 0,
    "outputs": {"log": False},
    "parameterization": {"type": "pixels", "init_noise": 0.5},
    "losses": {"contract_tv": {"type": "tv"}},
}

def merge(base: dict, extra: dict) -> dict:
    """``extra`` merged into ``base``, mappings key by key; a mapping naming another ``type``
    replaces the one it would merge with (as in presets)."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        same_type = isinstance(old, dict) and isinstance(value, dict) and value.get("type", old.get("type")) == old.get("type")
        out[key] = merge(old, value) if same_type else value
    return out


def check_options(options_cls: type, where: str = "") -> None:
    """An ``Options`` dataclass is declared soundly and documents every option."""
    from pixengine.options import declaration_problems, describe

    where = where or getattr(options_cls, "__name__", "Options")
    problems = declaration_problems(options_cls)
    assert not problems, f"{where}: " + "; ".join(problems)
    undocumented = [info.name for info in describe(options_cls) if not info.help and info.name != "weight"]
    assert not undocumented, f"{where}: options without help text: {', '.join(undocumented)} (option(..., help=...))"


def _bad_values(info) -> list[tuple[Any, str]]:
    """Values that break an option's declared type or constraints, with what they break."""
    bad = []
    base = info.type.split(" | ")[0]
    if base in ("int", "float", "bool"):
        bad.append(("not-a-number", "type"))
    if info.choices and all(isinstance(c, str) for c in info.choices):
        bad.append(("__not_a_choice__", "choices"))
    if info.min is not None and not info.type.startswith("list"):
        bad.append(((int(info.min) - 1) if base == "int" else info.min - 1.0, "min"))
    if info.max is not None and not info.type.startswith("list"):
        bad.append(((int(info.max) + 1) if base == "int" else info.max + 1.0, "max"))
    return bad


class _Contract:
    """What the contracts of every kind share: building the component in a run."""

    kind = ""
    #: Where the component sits in a run's config.
    key = ""

    def __init__(self, name: str, tmp_path: str | Path, *, config: Any = None, options: dict | None = None):
        self.name = name
        self.tmp_path = Path(tmp_path)
        self.options = dict(options or {})
        self._extra = config

    # -- building --------------------------------------------------------------------------

    def entry(self):
        from pixengine.plugins import get_registry

        entry = get_registry().get(self.kind, self.name)
        assert entry is not None, f"no {self.kind} named '{self.name}' is registered (is its plugin installed and loading?)"
        return entry

    def config(self, **options: Any) -> dict:
        extra = self._extra(self.tmp_path) if callable(self._extra) else (self._extra or {})
        config = merge(BASE_CONFIG, {"output_dir": str(self.tmp_path / "contract-out")})
        config = self.place(config, {"type": self.name, **self.options, **options})
        return self.finish(merge(config, extra))

    def finish(self, config: dict) -> dict:
        """The config once ``config=`` was merged in (an augmentation goes last in its chain)."""
        return config

    def place(self, config: dict, section: dict) -> dict:
        """``config`` with the component's ``section`` at :attr:`key`."""
        raise NotImplementedError

    def resolve(self, config: dict):
        import yaml

        import pixengine

        path = self.tmp_path / "contract.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return pixengine.resolve(str(path))

    def build(self, config: dict | None = None):
        import pixengine
        from pixengine.engine import Run
        from pixengine.plugins import get_registry

        config = config or self.config()
        try:
            return Run(self.resolve(config), get_registry()).build()
        except pixengine.PixengineError as exc:
            raise AssertionError(
                f"{self.kind} '{self.name}' did not build with its contract config: {exc}\n"
                "If it needs a model, a file or other options, give them with config=... / options=..."
            ) from None

    def component(self, run):
        raise NotImplementedError

    # -- checks of every kind -----------------------------------------------------------------

    def check_declaration(self) -> None:
        """Its Options are declared soundly and every option is documented."""
        entry = self.entry()
        check_options(entry.cls.Options, f"{self.kind} '{self.name}'")
        assert (entry.cls.__doc__ or "").strip(), f"{self.kind} '{self.name}' has no docstring (its summary in `plugins show`)"

    def check_default_options_build(self) -> None:
        run = self.build()
        component = self.component(run)
        assert isinstance(component.options, self.entry().cls.Options)

    def check_unknown_option_rejected(self) -> None:
        import pixengine

        try:
            self.resolve(self.config(no_such_option=1))
        except pixengine.ConfigError as exc:
            assert exc.key == f"{self.key}.no_such_option", f"rejected under key {exc.key!r}: {exc}"
            return
        raise AssertionError(f"{self.kind} '{self.name}' accepted an unknown option")

    def check_constraints_enforced(self) -> None:
        """Every declared type, choice and bound, broken on purpose, is refused at its key."""
        import pixengine
        from pixengine.engine import Run
        from pixengine.options import describe
        from pixengine.plugins import get_registry

        checked = 0
        for info in describe(self.entry().cls.Options):
            for value, broken in _bad_values(info):
                try:
                    Run(self.resolve(self.config(**{info.name: value})), get_registry()).build()
                except pixengine.ConfigError as exc:
                    assert exc.key == f"{self.key}.{info.name}", (
                        f"{self.name}.{info.name}={value!r} ({broken}) was rejected under key {exc.key!r}: {exc}"
                    )
                    checked += 1
                    continue
                raise AssertionError(f"{self.name}.{info.name}={value!r} breaks its {broken} and was accepted")
        if not checked:
            _skip(f"{self.name} declares no typed or constrained option")

    #: The checks :meth:`check_all` runs, in order.
    checks = ["check_declaration", "check_default_options_build", "check_unknown_option_rejected", "check_constraints_enforced"]

    def check_all(self) -> None:
        for check in self.checks:
            try:
                getattr(self, check)()
            except NotApplicable:
                continue


class NotApplicable(pytest.skip.Exception):
    """A check that does not apply to this component; pytest reports it as skipped."""


def _skip(reason: str) -> None:
    raise NotApplicable(reason)


# -- parameterizations -------------------------------------------------------------------------


def _check_image(image: torch.Tensor, width: int, height: int, name: str) -> None:
    assert image.dim() == 4 and image.shape[0] >= 1, f"{name}: forward() must be (B, 3, H, W), got {tuple(image.shape)}"
    assert image.shape[1:] == (3, height, width), f"{name}: expected (B, 3, {height}, {width}), got {tuple(image.shape)}"
    assert image.is_floating_point(), f"{name}: forward() must return a float tensor"
    assert torch.isfinite(image).all(), f"{name}: forward() returned non-finite values"
    assert image.min() >= 0 and image.max() <= 1, f"{name}: values outside [0, 1]: {image.min():.4g}..{image.max():.4g}"


def _target(image: torch.Tensor) -> torch.Tensor:
    """A fixed, structured target: dark left, bright right, a vertical colour ramp."""
    _, _, h, w = image.shape
    x = torch.linspace(0.1, 0.9, w).view(1, 1, 1, w).expand(1, 1, h, w)
    y = torch.linspace(0.2, 0.8, h).view(1, 1, h, 1).expand(1, 1, h, w)
    return torch.cat([x, y, 1 - x], dim=1).to(image)


def _trainable(run) -> list[tuple[str, torch.nn.Parameter]]:
    params = []
    for group in run.parameterization.param_groups():
        params += [(group.get("name", "?"), p) for p in group["params"] if p.requires_grad]
    return params


def _fit(run, steps: int, lr: float) -> None:
    """A few Adam steps towards the structured target, through the parameterization's groups."""
    optimizer = torch.optim.Adam([p for _, p in _trainable(run)], lr=lr)
    for _ in range(steps):
        image = run.parameterization()
        loss = F.mse_loss(image, _target(image).expand_as(image))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


class ParameterizationContract(_Contract):
    """forward() is (B, 3, H, W) in [0, 1] at the run's size, also after large steps; every
    parameter param_groups() returns gets a gradient; growing continues the image (or ``grow``
    is refused); a stopped and resumed run ends with the image of one that never stopped."""

    kind = "parameterization"
    key = "parameterization"

    def __init__(self, name, tmp_path, *, config=None, options=None, resize_tolerance: float = 0.03):
        super().__init__(name, tmp_path, config=config, options=options)
        #: Mean difference allowed, at a quarter of the size, between the image before and
        #: after a resize (a feed-forward network repaints details at a new size).
        self.resize_tolerance = resize_tolerance

    def place(self, config, section):
        return {**config, "parameterization": section}

    def component(self, run):
        return run.parameterization

    def check_forward(self) -> None:
        run = self.build()
        with torch.no_grad():
            _check_image(run.parameterization(), WIDTH, HEIGHT, self.name)
        _fit(run, steps=5, lr=1.0)  # still valid after large optimiser steps
        with torch.no_grad():
            _check_image(run.parameterization(), WIDTH, HEIGHT, self.name)

    def check_gradients(self) -> None:
        run = self.build()
        params = _trainable(run)
        assert params, f"{self.name}: param_groups() returned no trainable parameter"
        image = run.parameterization()
        F.mse_loss(image, _target(image).expand_as(image)).backward()
        for group, p in params:
            assert p.grad is not None, f"{self.name}: no gradient reached a parameter of group '{group}' {tuple(p.shape)}"
            assert p.grad.abs().sum() > 0, f"{self.name}: zero gradient in a parameter of group '{group}' {tuple(p.shape)}"
            assert torch.isfinite(p.grad).all(), f"{self.name}: non-finite gradient in group '{group}'"

    def check_resize(self) -> None:
        import pixengine
        from pixengine.engine import Run
        from pixengine.plugins import get_registry

        config = merge(self.config(), {"grow": [{"at": 1, "width": GROWN[0], "height": GROWN[1]}]})
        if not self.entry().cls.supports_resize:
            try:
                self.resolve(config)
            except pixengine.ConfigError as exc:
                assert exc.key == "grow", f"{self.name}: grow was refused under key {exc.key!r}"
                return
            raise AssertionError(f"{self.name} cannot resize (supports_resize is False) but grow was accepted")
        run = Run(self.resolve(config), get_registry()).build()
        _fit(run, steps=15, lr=0.1)  # give the image large-scale structure to keep
        with torch.no_grad():
            before = run.parameterization().detach()
        run._grow(1)  # the engine's own growing step: resize, update the context, new optimiser
        assert (run.ctx.width, run.ctx.height) == GROWN
        image = run.parameterization()
        _check_image(image.detach(), *GROWN, self.name)
        # Compared at a quarter of the size, where resampling conventions do not matter: a
        # resize that lost, shifted or flipped the image differs by far more.
        coarse = (HEIGHT // 4, WIDTH // 4)
        old = F.interpolate(before, size=coarse, mode="area")
        new = F.interpolate(image.detach(), size=coarse, mode="area")
        change = (old - new).abs().mean()
        assert change < self.resize_tolerance, f"{self.name}: the image changed by {change:.4f} on resize"
        assert (old - 0.5).abs().mean() > 0.05, "the fitted image should have structure to keep"
        F.mse_loss(image, _target(image).expand_as(image)).backward()
        for group, p in _trainable(run):
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{self.name}: group '{group}' gets no gradient after resize"
        optimised = {id(p) for g in run.optimizer.param_groups for p in g["params"]}
        assert optimised == {id(p) for _, p in _trainable(run)}, f"{self.name}: the rebuilt optimiser misses parameters"

    def check_resume(self) -> None:
        """Stopped after 2 of 4 steps and resumed from its checkpoint, a run ends with the
        image of a run that never stopped: the checkpoint holds everything it changes."""
        import pixengine

        straight = self.build(merge(self.config(), {"steps": 4, "output_dir": str(self.tmp_path / "straight")})).execute()
        run = self.build(merge(self.config(), {"steps": 4, "output_dir": str(self.tmp_path / "stopped")}))
        one_step = run._one_step

        def stop_after_two(step, bar):
            if step == 2:
                raise KeyboardInterrupt
            one_step(step, bar)

        run._one_step = stop_after_two
        try:
            run.execute()
        except KeyboardInterrupt:
            pass
        resumed = pixengine.run(resume=self.tmp_path / "stopped")
        assert resumed.steps_done == 4 and len(resumed.history) == 2
        assert torch.equal(resumed.tensor, straight.tensor), f"{self.name}: the resumed run's image differs"

    checks = [*_Contract.checks, "check_forward", "check_gradients", "check_resize", "check_resume"]


# -- losses ---------------------------------------------------------------------------------------


class LossContract(_Contract):
    """forward(inputs) is a finite scalar that depends only on its inputs, and its gradient
    reaches the parameterization; the weight option scales it in the total."""

    kind = "loss"
    key = "losses.contract"

    def place(self, config, section):
        return {**config, "losses": {"contract": section}}

    def component(self, run):
        return next(loss for spec, loss in run.losses if spec.label == "contract")

    def _inputs(self, run, step: int = 0):
        from pixengine.components import StepInputs

        image = run.parameterization()
        views = run.chain(image) if run.chain is not None else None
        return StepInputs(image=image, views=views, step=step, steps=run.settings.steps, augment=run.chain)

    def check_value(self) -> None:
        run = self.build()
        loss = self.component(run)
        inputs = self._inputs(run)
        value = loss(inputs)
        assert isinstance(value, torch.Tensor) and value.numel() == 1, f"{self.name}: forward must return a scalar tensor"
        assert torch.isfinite(value).all(), f"{self.name}: the loss is {value.item()}"
        again = loss(dataclasses.replace(inputs, memo={}))
        assert torch.equal(value.detach(), again.detach()), f"{self.name}: two calls on the same inputs differ (state kept between calls?)"
        scoring = loss(dataclasses.replace(inputs, step=-1, memo={}))  # how initialize() scores candidates
        assert torch.isfinite(scoring).all(), f"{self.name}: a scoring call (step -1) gave {scoring}"

    def check_gradient(self) -> None:
        run = self.build()
        loss = self.component(run)
        with torch.no_grad():  # away from any point where the loss is flat (a latent at its anchor)
            for _, p in _trainable(run):
                p.add_(0.3 * torch.randn_like(p))
        loss(self._inputs(run)).backward()
        grads = [p.grad for _, p in _trainable(run) if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), f"{self.name}: no gradient reaches the parameterization"
        assert all(torch.isfinite(g).all() for g in grads), f"{self.name}: non-finite gradient"

    def check_weight(self) -> None:
        from pixengine.components import LossOptions

        entry = self.entry()
        assert issubclass(entry.cls.Options, LossOptions), f"{self.name}: Options must subclass pixengine.LossOptions (the weight)"
        run = self.build(self.config(weight=2.5))
        _, total, terms = run._evaluate(0)
        index = [spec.label for spec, _ in run.losses].index("contract")
        others = sum(spec.options.weight * t for (spec, _), t in zip(run.losses, terms) if spec.label != "contract")
        assert torch.allclose(total, others + 2.5 * terms[index]), f"{self.name}: the weight does not scale it in the total"

    checks = [*_Contract.checks, "check_value", "check_gradient", "check_weight"]


# -- augmentations ----------------------------------------------------------------------------------


class AugmentationContract(_Contract):
    """Views are (N, 3, h, w) and finite; replaying the sampled parameters gives the same views;
    sampling draws from torch's seeded generator; gradients flow through; a link that says it
    is geometric only moves pixels (it commutes with scaling the pixel values)."""

    kind = "augmentation"
    key = "augmentations.contract"

    def place(self, config, section):
        return {**config, "augmentations": {**config.get("augmentations", {}), "contract": section}}

    def finish(self, config):
        chain = dict(config["augmentations"])
        return {**config, "augmentations": {**{k: v for k, v in chain.items() if k != "contract"}, "contract": chain["contract"]}}

    def component(self, run):
        return run.chain.links[-1]  # placed last by finish()

    def _image(self, run) -> torch.Tensor:
        with torch.no_grad():
            return run.parameterization().detach()

    def check_views(self) -> None:
        run = self.build()
        views = run.chain(self._image(run))
        assert views.dim() == 4 and views.shape[1] == 3, f"{self.name}: views must be (N, 3, h, w), got {tuple(views.shape)}"
        assert torch.isfinite(views).all(), f"{self.name}: non-finite views"

    def check_replay(self) -> None:
        run = self.build()
        image = self._image(run)
        views = run.chain(image)
        assert torch.equal(run.chain.replay(image), views), f"{self.name}: replaying the sampled parameters gives other views"
        other = run.chain.replay(image.flip(-1))
        assert other.shape == views.shape, f"{self.name}: a replay on another image has another shape"

    def check_seeded_sampling(self) -> None:
        run = self.build()
        image = self._image(run)
        torch.manual_seed(5)
        first = run.chain(image)
        torch.manual_seed(5)
        again = run.chain(image)
        assert torch.equal(first, again), f"{self.name}: the same seed gave other views (an unseeded random source?)"
        if self.component(run).sample(image if len(run.chain.links) == 1 else run.chain.links[0](image)) is None:
            return  # a deterministic link
        torch.manual_seed(6)
        assert not torch.equal(run.chain(image), first), f"{self.name}: another seed gave the same views"

    def check_gradient(self) -> None:
        run = self.build()
        image = self._image(run).requires_grad_(True)
        views = run.chain(image)
        # A link that detaches leaves nothing to differentiate: say so rather than let backward() raise.
        assert views.requires_grad, f"{self.name}: no gradient flows through it"
        views.sum().backward()
        assert image.grad is not None and image.grad.abs().sum() > 0, f"{self.name}: no gradient flows through it"

    def check_geometric(self) -> None:
        run = self.build()
        link = self.component(run)
        if not link.geometric:
            _skip(f"{self.name} is not geometric")
        image = self._image(run)
        views = run.chain(image)
        scaled = run.chain.replay(0.5 * image)
        assert torch.allclose(scaled, 0.5 * views, atol=1e-5), (
            f"{self.name} says geometric = True but does more than move pixels (replaying it on a darker image "
            "does not give darker views); set geometric = False"
        )

    checks = [*_Contract.checks, "check_views", "check_replay", "check_seeded_sampling", "check_gradient", "check_geometric"]


# -- models -------------------------------------------------------------------------------------------


class ModelContract(_Contract):
    """Builds frozen and in eval mode; its weight files exist; each capability it declares
    (pixengine.protocols) behaves as documented."""

    kind = "model"
    key = "models.contract"

    def place(self, config, section):
        return {**config, "models": {**config.get("models", {}), "contract": section}}

    def component(self, run):
        return run.ctx.models["contract"]

    def check_frozen(self) -> None:
        model = self.component(self.build())
        assert not model.training, f"{self.name}: the engine puts models in eval mode"
        assert not any(p.requires_grad for p in model.parameters()), f"{self.name}: a model's parameters must stay frozen"

    def check_weight_files(self) -> None:
        run = self.build()
        spec = next(s for s in run.spec.models if s.label == "contract")
        files = self.entry().cls.weight_files(spec.options, spec.key)
        for name, path in files.items():
            assert Path(path).is_file(), f"{self.name}: weight_files() names '{name}' at {path}, which does not exist"
        assert run.weights.get(spec.key, {}).keys() == files.keys(), f"{self.name}: the run did not record its weight files"

    def check_capabilities(self) -> None:
        from pixengine.protocols import FeatureExtractor, ImageTextEmbedder

        model = self.component(self.build())
        declared = [c for c in (FeatureExtractor, ImageTextEmbedder) if isinstance(model, c)]
        if not declared:
            _skip(f"{self.name} declares no capability of pixengine.protocols")
        images = torch.rand(2, 3, 64, 64, requires_grad=True)
        if isinstance(model, FeatureExtractor):
            layers = list(model.default_layers)
            assert layers and set(layers) <= set(model.layer_names), f"{self.name}: default_layers must be among layer_names"
            features = model.features(images, layers)
            assert set(features) == set(layers), f"{self.name}: features() returned {sorted(features)} for {layers}"
            for layer, value in features.items():
                assert value.dim() == 4 and value.shape[0] == 2, f"{self.name}: layer {layer} is {tuple(value.shape)}, not (B, C, h, w)"
                assert torch.isfinite(value).all(), f"{self.name}: layer {layer} is not finite"
            sum(v.mean() for v in features.values()).backward()
            assert images.grad is not None and images.grad.abs().sum() > 0, f"{self.name}: features are not differentiable"
            images.grad = None
        if isinstance(model, ImageTextEmbedder):
            embedded = model.embed_images(images)
            assert embedded.dim() == 2 and embedded.shape[0] == 2, f"{self.name}: embed_images gave {tuple(embedded.shape)}"
            assert torch.allclose(embedded.norm(dim=-1), torch.ones(2), atol=1e-4), f"{self.name}: image embeddings are not unit vectors"
            embedded.sum().backward()
            assert images.grad is not None and images.grad.abs().sum() > 0, f"{self.name}: embed_images is not differentiable"
            texts = model.embed_texts(["a cat", "a dog", "a lighthouse"])
            assert texts.shape == (3, embedded.shape[1]), f"{self.name}: embed_texts gave {tuple(texts.shape)}"
            assert torch.allclose(texts.norm(dim=-1), torch.ones(3), atol=1e-4), f"{self.name}: text embeddings are not unit vectors"

    checks = [*_Contract.checks, "check_frozen", "check_weight_files", "check_capabilities"]


def check_parameterization(name: str, tmp_path, **kwargs: Any) -> None:
    """Every contract check of the parameterization ``name`` (see :class:`ParameterizationContract`)."""
    ParameterizationContract(name, tmp_path, **kwargs).check_all()


def check_loss(name: str, tmp_path, **kwargs: Any) -> None:
    """Every contract check of the loss ``name`` (see :class:`LossContract`)."""
    LossContract(name, tmp_path, **kwargs).check_all()


def check_augmentation(name: str, tmp_path, **kwargs: Any) -> None:
    """Every contract check of the augmentation ``name`` (see :class:`AugmentationContract`)."""
    AugmentationContract(name, tmp_path, **kwargs).check_all()


def check_model(name: str, tmp_path, **kwargs: Any) -> None:
    """Every contract check of the model ``name`` (see :class:`ModelContract`)."""
    ModelContract(name, tmp_path, **kwargs).check_all()
