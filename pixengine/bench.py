"""How long a preset takes on this machine, before committing to the whole run
(``pixengine bench PRESET``): it builds the run, times a few steps and scales them up."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .api import prepare, resolve

#: Outputs a timing run does not write: they would only cost time and disk.
QUIET = {
    "progress": False,
    "save_every": 0,
    "outputs.log": False,
    "outputs.checkpoint": False,
    "media.animation": None,
    "media.contact_sheet": False,
}


@dataclass
class Timing:
    preset: str
    device: str
    threads: int
    #: Seconds to load models and build the run (weights, targets, a top-k start...).
    build_s: float
    #: Seconds of each timed step, after the warm-up.
    step_s: list[float]
    #: The steps the preset runs.
    planned_steps: int
    #: (width, height) the steps were timed at; a growing preset is timed at its final size.
    size: tuple[int, int]
    grows: bool

    @property
    def median_step_s(self) -> float:
        return statistics.median(self.step_s)

    @property
    def estimate_s(self) -> float:
        """The whole run: building plus every planned step at the median step time."""
        return self.build_s + self.planned_steps * self.median_step_s


def time_preset(
    preset: str | Path | None = None,
    prompt: str | None = None,
    *,
    steps: int = 5,
    warmup: int = 1,
    overrides: list[str] | Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Timing:
    """Time ``steps`` steps of a preset (after ``warmup`` untimed ones) and the build."""
    settings = resolve(preset, prompt, overrides=overrides, **kwargs).settings
    size = (settings.width, settings.height)
    if settings.grow:  # time the largest part of the run: at its final size, without growing
        size = (settings.grow[-1].width, settings.grow[-1].height)
    timed = {**kwargs, **QUIET, "steps": warmup + steps, "grow": [], "width": size[0], "height": size[1]}
    with tempfile.TemporaryDirectory(prefix="pixengine-bench-") as folder:
        started = time.perf_counter()
        run = prepare(preset, prompt, overrides=overrides, **{**timed, "output_dir": folder})
        build_s = time.perf_counter() - started
        result = run.execute()
    return Timing(
        preset=settings.preset or str(preset),
        device=str(run.ctx.device),
        threads=torch.get_num_threads(),
        build_s=build_s,
        step_s=[record["seconds"] for record in result.history[warmup:]],
        planned_steps=settings.steps,
        size=size,
        grows=bool(settings.grow),
    )


def describe(timing: Timing) -> str:
    where = f"{timing.device}" + (f", {timing.threads} torch threads" if timing.device == "cpu" else "")
    at = f"{timing.size[0]}x{timing.size[1]}" + (" (its final size: an upper bound, it grows)" if timing.grows else "")
    return (
        f"{timing.preset} on {where}, at {at}:\n"
        f"  build {timing.build_s:.1f} s, then {timing.median_step_s:.3g} s per step "
        f"(median of {len(timing.step_s)}: {', '.join(f'{s:.3g}' for s in timing.step_s)})\n"
        f"  whole run of {timing.planned_steps} steps: about {_duration(timing.estimate_s)}"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
