"""Expanding a sweep spec into its runs: the product of its axes, in a fixed order (prompts,
grid keys as written, random points, seeds), each run with a stable id and the overrides that
make it. Deterministic: the same spec and base seed give the same runs. No torch here."""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from .spec import SweepSpec


def variation_seed(seed: int | str, index: int) -> int | str:
    """Seed number ``index`` counting up from ``seed``: the rule of ``--variations``
    (:func:`pixengine.seed_variations.variation_seed`, which imports torch; a test keeps them equal)."""
    if index == 0:
        return seed
    return seed + index if isinstance(seed, int) else f"{seed}-{index}"


@dataclass
class Axis:
    """One dimension of a sweep: a name, and per value its label and the overrides it sets."""

    name: str
    labels: list[str]
    overrides: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class PlannedRun:
    index: int
    id: str
    #: axis name -> the label of this run's value on that axis
    axes: dict[str, str]
    #: The overrides this run adds to the spec's common ones (its axis values).
    overrides: dict[str, Any] = field(default_factory=dict)

    def to_data(self) -> dict:
        return {"index": self.index, "id": self.id, "axes": self.axes, "overrides": self.overrides}

    @classmethod
    def from_data(cls, data: dict) -> "PlannedRun":
        return cls(index=int(data["index"]), id=str(data["id"]), axes=dict(data["axes"]), overrides=dict(data["overrides"]))


def short_key(key: str) -> str:
    """``losses.smooth.weight`` -> ``smooth.weight``: enough to tell axes apart in labels."""
    parts = key.split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 else key


def value_label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _draw(rng: random.Random, low: float, high: float, log: bool) -> float | int:
    if log:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    elif isinstance(low, int) and isinstance(high, int):
        return rng.randint(low, high)
    else:
        value = rng.uniform(low, high)
    return float(f"{value:.6g}")  # readable in labels and exact through YAML


def axes_of(spec: SweepSpec, base_seed: int | str) -> list[Axis]:
    axes = []
    if spec.prompts is not None:
        axes.append(Axis("prompt", [value_label(p) for p in spec.prompts], [{"prompt": p} for p in spec.prompts]))
    for key, values in spec.grid.items():
        axes.append(Axis(key, [f"{short_key(key)}={value_label(v)}" for v in values], [{key: v} for v in values]))
    if spec.random is not None:
        rng = random.Random(spec.random.seed)
        points = [{key: _draw(rng, lo, hi, log) for key, (lo, hi, log) in spec.random.ranges.items()} for _ in range(spec.random.count)]
        labels = [", ".join(f"{short_key(k)}={value_label(v)}" for k, v in point.items()) for point in points]
        axes.append(Axis("random", labels, points))
    if spec.seeds is not None:
        seeds = spec.seeds if isinstance(spec.seeds, list) else [variation_seed(base_seed, i) for i in range(spec.seeds)]
        axes.append(Axis("seed", [f"seed={s}" for s in seeds], [{"seed": s} for s in seeds]))
    return axes


def _slug(axes: list[Axis], choice: tuple[int, ...]) -> str:
    parts = []
    for axis, i in zip(axes, choice):
        if axis.name == "prompt":
            parts.append("-".join(axis.labels[i].split()[:3]))
        elif axis.name == "random":
            parts.append(f"r{i}")
        else:  # "smooth.weight=0.05" -> "weight=0.05"
            key, _, value = axis.labels[i].partition("=")
            parts.append(f"{key.split('.')[-1]}={value}")
    text = re.sub(r"[^A-Za-z0-9.=_-]+", "_", "-".join(parts)).strip("_-.")
    return text[:60]


def expand(spec: SweepSpec, base_seed: int | str) -> tuple[list[Axis], list[PlannedRun]]:
    """Every run of the sweep (one run with no axes)."""
    axes = axes_of(spec, base_seed)
    choices = list(itertools.product(*(range(len(axis)) for axis in axes)))
    width = max(3, len(str(len(choices) - 1)))
    runs = []
    for index, choice in enumerate(choices):
        overrides: dict[str, Any] = {}
        for axis, i in zip(axes, choice):
            overrides.update(axis.overrides[i])
        slug = _slug(axes, choice)
        run_id = f"{index:0{width}d}" + (f"-{slug}" if slug else "")
        runs.append(PlannedRun(index=index, id=run_id, axes={axis.name: axis.labels[i] for axis, i in zip(axes, choice)},
                               overrides=overrides))
    return axes, runs
