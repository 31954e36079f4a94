"""The optimiser from the config, over the parameterization's parameter groups, and the
learning-rate schedule (warm-up, step decays, final cosine ramp-down) as a factor per step.

The schedule is a pure function of the step rather than a torch LR scheduler, so the optimiser
can be rebuilt mid-run (progressive growing) without losing the schedule's position.
"""

from __future__ import annotations

import math

import torch

from .compiler_free import leave_optimizers_uncompiled
from .errors import ConfigError, did_you_mean
from .lbfgs import ProjectedLBFGS
from .schema import OptimizerSettings

#: Optimisers pixengine adds to torch.optim's, by the name a config gives in optimizer.type.
OWN_OPTIMIZERS: dict[str, type] = {"ProjectedLBFGS": ProjectedLBFGS}


def optimizer_class(name: str) -> type:
    """The optimiser class a config names: one of pixengine's own or a torch.optim class."""
    return OWN_OPTIMIZERS.get(name) or getattr(torch.optim, name)


def optimizer_names() -> list[str]:
    """Every name optimizer.type accepts."""
    builtin = (
        name
        for name, obj in vars(torch.optim).items()
        if isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer) and obj is not torch.optim.Optimizer
    )
    return sorted({*builtin, *OWN_OPTIMIZERS})


def build_optimizer(settings: OptimizerSettings, groups: list[dict]) -> torch.optim.Optimizer:
    known = [g.get("name", f"group{i}") for i, g in enumerate(groups)]
    for name in settings.groups:
        if name not in known:
            raise ConfigError(
                f"the parameterization has no parameter group '{name}'; {did_you_mean(name, known)}",
                key=f"optimizer.groups.{name}",
            )
    torch_groups = []
    for i, group in enumerate(groups):
        name = group.get("name", f"group{i}")
        params = [p for p in group["params"] if p.requires_grad]
        if not params:
            continue
        override = settings.groups.get(name)
        if override is not None and override.lr is not None:
            lr = override.lr
        elif "lr" in group:
            lr = group["lr"]
        else:
            lr = settings.lr * group.get("lr_scale", 1.0)
        extra = {k: v for k, v in group.items() if k not in ("name", "params", "lr", "lr_scale")}
        torch_groups.append({"params": params, "lr": lr, "base_lr": lr, "name": name, **extra})
    if not torch_groups:
        raise ConfigError("the parameterization has no parameters to optimise", key="parameterization")
    cls = optimizer_class(settings.type)
    leave_optimizers_uncompiled()
    if issubclass(cls, torch.optim.LBFGS) and len(torch_groups) > 1:
        torch_groups = _one_group_for_lbfgs(torch_groups)
    try:
        return cls(torch_groups, lr=settings.lr, **dict(settings.args))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{settings.type} rejected its arguments: {exc}", key="optimizer.args") from None


def _one_group_for_lbfgs(groups: list[dict]) -> list[dict]:
    """torch's L-BFGS takes a single parameter group: merge the groups when they share a rate."""
    rates = {group["name"]: group["lr"] for group in groups}
    if len(set(rates.values())) > 1:
        listing = ", ".join(f"{name} {lr:g}" for name, lr in rates.items())
        raise ConfigError(
            f"LBFGS optimises all parameters with one rate, but the parameterization's groups have different rates "
            f"({listing}); use Adam, or give every group the same rate under optimizer.groups",
            key="optimizer.type",
        )
    lr = groups[0]["lr"]
    return [{"params": [p for group in groups for p in group["params"]], "lr": lr, "base_lr": lr, "name": "all"}]


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``step`` must be given a closure that evaluates the loss again (L-BFGS does,
    several times per step for its line search)."""
    return isinstance(optimizer, torch.optim.LBFGS)


def lr_factor(settings: OptimizerSettings, step: int, steps: int) -> float:
    """The multiplier of every group's base rate at ``step`` (0-based) of ``steps``."""
    factor = 1.0
    if settings.warmup and step < settings.warmup:
        factor *= (step + 1) / settings.warmup
    for at in settings.decay_at:
        at_step = at * steps if at < 1 else at
        if step >= at_step:
            factor *= settings.decay_factor
    if settings.rampdown > 0 and steps > 0:
        t = step / steps
        start = 1.0 - settings.rampdown
        if t > start:
            # StyleCLIP-style cosine ramp to zero over the last `rampdown` of the run.
            factor *= 0.5 * (1 + math.cos(math.pi * (t - start) / settings.rampdown))
    return factor


def apply_schedule(optimizer: torch.optim.Optimizer, settings: OptimizerSettings, step: int, steps: int) -> float:
    factor = lr_factor(settings, step, steps)
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    return factor
