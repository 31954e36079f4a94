"""Base classes of the component kinds a plugin can register.

Each component class has a ``name`` (what presets call it), an ``Options`` dataclass (see
:mod:`pixengine.options`) and a docstring whose first line is its summary. The engine builds a
component as ``cls(options, ctx)`` where ``options`` is a validated ``Options`` instance and
``ctx`` the :class:`pixengine.context.RunContext` of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from .options import NoOptions, option


class Component:
    """Common to all kinds: the class attributes the registry reads, and construction from the
    validated options and the run context (every kind is also an ``nn.Module``)."""

    name: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    kind: ClassVar[str] = ""

    def __init__(self, options: Any, ctx: Any):
        super().__init__()  # nn.Module, next in each kind's method resolution order
        self.options = options
        self.ctx = ctx

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def weight_files(cls, options: Any, key: str = "") -> dict[str, "Path"]:
        """The weight files this component loads with ``options``, by a readable name, found
        the way the component will find them (an explicit path, the cache, a download) but
        without loading them; raise :class:`pixengine.WeightsNotFoundError` when they cannot be
        found. ``key`` is the component's place in the config (``models.clip``), for how-to
        messages (``models.clip.path=FILE``). The engine records each file's SHA-256 in the run's outputs (so a recipe says
        which weights made it) and calls this before building anything, so a missing file stops
        the run early. Components without weight files keep the default: none.

        .. versionadded:: 1.1
        """
        return {}

    @classmethod
    def memory_estimate(cls, options: Any, width: int, height: int) -> int:
        """Bytes this component needs for a run at ``width`` x ``height`` beyond its weight
        files (which are counted from their size): activations that grow with the image, a
        chain's views. A rough upper bound; the engine refuses a run whose total cannot fit
        (pixengine.memory). Default: nothing worth counting.

        .. versionadded:: 1.3
        """
        return 0

    def references(self) -> dict[str, "torch.Tensor"]:
        """The input images this component was given (target, style, content...), by label,
        as (1, 3, H, W) tensors in [0, 1]: shown beside the result in contact sheets."""
        return {}


# ------------------------------------------------------------------------------------------
# Parameterizations: what the optimiser changes, and how it becomes an image.
# ------------------------------------------------------------------------------------------


class Parameterization(Component, nn.Module):
    """Base of image parameterizations.

    Subclasses create their ``nn.Parameter`` s in ``__init__`` and return the image from
    ``forward()``: a tensor of shape (B, 3, H, W) with values in [0, 1], B usually 1, H and W
    equal to ``ctx.height`` and ``ctx.width``.
    """

    kind: ClassVar[str] = "parameterization"
    #: True when :meth:`resize` is implemented (progressive growing via the ``grow`` key).
    supports_resize: ClassVar[bool] = False

    def forward(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def param_groups(self) -> list[dict]:
        """Parameter groups for the optimiser: dicts with ``name`` and ``params``, optionally
        ``lr`` (absolute) or ``lr_scale`` (times the optimiser's ``lr``). The config's
        ``optimizer.groups.NAME.lr`` overrides a group's rate by name."""
        return [{"name": "params", "params": [p for p in self.parameters() if p.requires_grad]}]

    def project(self) -> None:
        """Called by the engine without gradients after every optimiser step: put the parameters
        back where they must stay (``pixels`` with ``bound: clamp`` clamps its values to [0, 1]).
        Several evaluations inside one step (L-BFGS with ``max_iter`` above 1) happen before it,
        so ``forward()`` must keep its output in [0, 1] on its own. Default: nothing.

        .. versionadded:: 1.4
        """

    def resize(self, width: int, height: int) -> None:
        """Continue at a new resolution: the image at the new size must continue the old one.
        The engine rebuilds the optimiser afterwards."""
        raise NotImplementedError(f"parameterization '{self.name}' cannot change resolution")

    def initialize(self, score) -> None:
        """Called once after the run's losses are built, before step 1. ``score(images)`` takes
        (B, 3, H, W) images and returns the run's total weighted loss of each, shape (B,),
        without gradients: e.g. to start from the best of many samples (FuseDream)."""

    def export(self, stem: str) -> list[str]:
        """Write extra formats of the current image (e.g. SVG) next to ``stem`` + ``.png``;
        return the paths written. Called for the final image."""
        return []


# ------------------------------------------------------------------------------------------
# Augmentations: random views of the image, replayable.
# ------------------------------------------------------------------------------------------


class Augmentation(Component, nn.Module):
    """Base of augmentations, applied in chain order to a batch of views.

    Sampling is separate from application so a chain can be replayed with the same random
    parameters: ``sample(x)`` draws the parameters for the batch ``x`` (from torch's global
    generator, which the run seeds), ``apply(x, params)`` applies them. The first link of a
    chain usually turns the (B, 3, H, W) image into (N, 3, h, w) views (cutouts).
    """

    kind: ClassVar[str] = "augmentation"
    #: True when the augmentation only moves pixels (crops, warps, flips): replaying the
    #: geometric links on a mask gives each view's part of that mask.
    geometric: ClassVar[bool] = False

    def sample(self, x: torch.Tensor) -> Any:
        """Draw this link's random parameters for the batch ``x`` (the output of the previous
        link): crop boxes, angles, flip decisions... Any object ``apply`` understands. Draw
        from torch's global generator (the run seeds it and checkpoints its state), never
        from an unseeded source, so runs reproduce and resume exactly. The default draws
        nothing (``None``): a deterministic link.

        .. versionadded:: 1.0
        """
        return None

    def apply(self, x: torch.Tensor, params: Any) -> torch.Tensor:  # pragma: no cover
        """Apply the parameters ``params`` (from :meth:`sample`) to ``x`` and return the new
        batch, differentiably. Called again with the same ``params`` to replay the views on
        another input (the start image, a mask, the image at another size), so it must
        depend on nothing but ``x`` and ``params``. A geometric link (``geometric = True``)
        must only move pixels: a mask replayed through it must still line up with the image.

        This overrides ``torch.nn.Module.apply``, which augmentations do not use.

        .. versionadded:: 1.0
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``apply(x, sample(x))``: one fresh random draw."""
        return self.apply(x, self.sample(x))


# ------------------------------------------------------------------------------------------
# Losses: a scalar per step, weighted and summed by the engine.
# ------------------------------------------------------------------------------------------


@dataclass
class LossOptions:
    """Options every loss has; a loss's ``Options`` should subclass this."""

    weight: float = option(1.0, help="multiplier of this loss in the total (negative pushes away)")


@dataclass
class StepInputs:
    """What a loss sees at one step."""

    #: The parameterization's output, (B, 3, H, W) in [0, 1].
    image: torch.Tensor
    #: The augmentation chain's views of ``image`` (N, 3, h, w), or None when the run has no
    #: augmentations (its ``augmentations`` section is empty). Losses that need views (CLIP)
    #: should say so with a ConfigError at build time, by checking ``ctx.augment``.
    views: torch.Tensor | None
    #: 0-based step index and the run's step count. ``step`` is -1 when the engine scores
    #: candidate images for a parameterization's ``initialize``; keep no state from such calls.
    step: int
    steps: int
    #: The augmentation chain (to replay ``views``' parameters on another input), or None.
    augment: Any = None
    #: Per-step memo shared by all losses (e.g. image embeddings per model).
    memo: dict = field(default_factory=dict)

    def cached(self, key: Any, compute):
        """Compute a value once per step and share it across losses."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


class Loss(Component, nn.Module):
    """Base of losses: ``forward(inputs: StepInputs)`` returns a scalar tensor. The engine
    multiplies it by ``options.weight`` and sums over the run's losses."""

    kind: ClassVar[str] = "loss"
    Options: ClassVar[type] = LossOptions

    def forward(self, inputs: StepInputs) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


# ------------------------------------------------------------------------------------------
# Models: networks shared by losses and parameterizations, loaded once per run.
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    """A model a plugin knows how to obtain (for ``pixengine models list``)."""

    name: str
    description: str = ""
    #: Where the weights are on this machine, or None when they are not.
    local_path: str | None = None


class Model(Component, nn.Module):
    """Base of loadable models. ``__init__`` loads the weights (see
    :mod:`pixengine.weights`) and raises :class:`pixengine.errors.WeightsNotFoundError` when
    they are missing; the engine builds models before the first step, so a missing file stops
    the run early. Models are frozen (``requires_grad`` off) by the engine."""

    kind: ClassVar[str] = "model"

    @classmethod
    def catalog(cls) -> list[CatalogEntry]:
        """Named weights this model can use, with their local availability."""
        return []

    @classmethod
    def fetch(cls, entry: str) -> str:
        """Download the named catalog entry into the cache; return its path."""
        raise NotImplementedError(f"model '{cls.name}' has nothing to fetch")


KINDS = ("parameterization", "loss", "augmentation", "model")
