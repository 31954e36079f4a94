"""Small runs for tests: overrides that make any recipe small and quiet, a run context to
build one component by hand, and a built run."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def quick_overrides(folder: str | Path) -> dict[str, Any]:
    """Overrides that make any recipe quiet and write into ``folder``/out."""
    return {"output_dir": str(Path(folder) / "out"), "progress": False, "save_every": 0}


def run_context(width: int = 32, height: int = 32, *, steps: int = 1, seed: int = 0, config: dict | None = None, models=None):
    """A CPU :class:`pixengine.context.RunContext`, to build a component directly:
    ``Vignette(VignetteOptions(), run_context())``."""
    import torch
    from omegaconf import OmegaConf

    from pixengine.context import RunContext

    ctx = RunContext(device=torch.device("cpu"), width=width, height=height, steps=steps, seed=seed,
                     config=OmegaConf.create(config or {}))
    ctx.models.update(models or {})
    return ctx


def build_run(recipe: str | Path | None = None, **overrides: Any):
    """A built (not executed) :class:`pixengine.engine.Run` of ``recipe`` with ``overrides``."""
    import pixengine

    return pixengine.prepare(recipe, **overrides)
