"""The top level of a run's config: every key a preset may set outside its component sections.

Component sections (``parameterization``, ``augmentations``, ``losses``, ``models``) are
checked against the options of the components they name, in :mod:`pixengine.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .options import option


@dataclass
class GroupSettings:
    lr: Optional[float] = option(None, help="learning rate of this parameter group (absolute)", min=0)


@dataclass
class OptimizerSettings:
    type: str = option("Adam", help="a torch.optim class name: Adam, AdamW, SGD, RMSprop, ...")
    lr: float = option(0.05, help="base learning rate", min=0)
    args: dict[str, Any] = option({}, help="extra keyword arguments of the optimiser, e.g. {betas: [0.9, 0.99]}")
    groups: dict[str, GroupSettings] = option(
        {}, help="per parameter-group settings by group name, e.g. {points: {lr: 1.0}}"
    )
    warmup: int = option(0, help="steps of linear learning-rate warm-up from 0", min=0)
    decay_at: list[float] = option(
        [], help="steps at which the rate is multiplied by decay_factor; values below 1 are fractions of steps"
    )
    decay_factor: float = option(0.1, help="multiplier applied at each decay_at step", min=0)
    rampdown: float = option(
        0.0, help="fraction of the run over which the rate ramps down to 0 by a cosine at the end", min=0, max=1
    )


@dataclass
class GrowStep:
    at: int = option(0, help="step (0-based) at which the resolution changes", min=0)
    width: int = option(256, min=8)
    height: int = option(256, min=8)


@dataclass
class OutputSettings:
    """The files the core writes (plugins declare their own: the media plugin's ``media``)."""

    log: bool = option(True, help="write log.jsonl with every loss term per step")
    checkpoint: bool = option(
        True, help="write checkpoint.pt (at every save_every step and when the run stops) so `pixengine run --resume` can go on"
    )


@dataclass
class LimitSettings:
    """Bounds that stop a mistyped size or step count before it costs anything; raise them on
    purpose for a larger run."""

    max_side: int = option(4096, help="largest width or height accepted (including grow sizes)", min=8)
    max_steps: int = option(100_000, help="most steps accepted", min=1)
    memory: str = option(
        "check",
        help="check: refuse a run whose estimated memory exceeds what the device has left; ignore: try anyway",
        choices=["check", "ignore"],
    )


@dataclass
class RunSettings:
    preset: str = option("", help="name of the preset this run came from (set automatically)")
    description: str = option("", help="one line shown by `pixengine presets list`")
    prompt: str = option(
        "", help="the run's text prompt, in the prompt grammar (README); losses whose own prompt is empty use it"
    )
    seed: Any = option(0, help="integer or string; null picks one at random and records it")
    steps: int = option(200, help="optimisation steps", min=0)
    width: int = option(256, help="image width in pixels", min=8)
    height: int = option(256, help="image height in pixels", min=8)
    device: str = option("auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    deterministic: bool = option(True, help="use deterministic torch algorithms where they exist")
    output_dir: Optional[str] = option(None, help="where the run writes; default outputs/PRESET-DATE-TIME")
    save_every: int = option(50, help="write an intermediate PNG every this many steps (0: never)", min=0)
    progress: bool = option(True, help="show a progress bar")
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    grow: list[GrowStep] = option([], help="progressive growing: resolution changes during the run")
    parameterization: Any = option({"type": "pixels"}, help="the image parameterization: {type: NAME, ...options}")
    augmentations: Any = option({}, help="the augmentation chain, in order: {LABEL: {type: NAME, ...options}}")
    losses: Any = option({}, help="the losses: {LABEL: {type: NAME, weight: W, ...options}}")
    models: Any = option({}, help="models shared by losses: {LABEL: {type: NAME, ...options}}")


#: The component sections: config key -> (component kind, whether it maps labels to sections).
COMPONENT_SECTIONS = {
    "parameterization": ("parameterization", False),
    "models": ("model", True),
    "augmentations": ("augmentation", True),
    "losses": ("loss", True),
}
