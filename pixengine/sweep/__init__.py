"""Sweeps: many seeds, prompts and settings of one recipe, run locally or on a Ray cluster,
resumable, with best-of-N by successive halving.

    from pixengine import sweep

    spec = sweep.load_spec("cats.yaml")          # or sweep.spec.from_data({...}, source)
    result = sweep.run(spec, output="out/cats", workers=2)       # or ray="127.0.0.1:6379"
    print(sweep.describe(result.root))

Modules, one job each: :mod:`~pixengine.sweep.spec` (reading a spec), :mod:`~.expand` (its
runs), :mod:`~.plan` (validating them), :mod:`~.folder` (the sweep folder and its lock),
:mod:`~.worker` (one run in any process), :mod:`~.local` and :mod:`~.ray_executor` (where
runs execute), :mod:`~.halving` (best-of-N's rule), :mod:`~.driver` (getting it all done),
:mod:`~.index` and :mod:`~.sheet` (what it produces), :mod:`~.summary` (``pixengine info``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .spec import SweepSpec

__all__ = ["SweepSpec", "describe", "is_sweep", "load_spec", "make_executor", "run"]

#: Names imported on first use, so `pixengine --help` (which adds the sweep command) stays light.
_LAZY = {"describe": ("summary", "describe"), "is_sweep": ("folder", "is_sweep"), "SweepSpec": ("spec", "SweepSpec"),
         "load_spec": ("spec", "load")}
__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


def make_executor(*, workers: int = 1, ray: str | None = None, device: str = "auto", gpus_per_run: float | None = None,
                  cpus_per_run: float = 1, retries: int = 2):
    """Local worker processes, or Ray tasks when ``ray`` is given (``"local"`` starts a runtime
    here, ``HOST:PORT`` joins a cluster)."""
    if ray is None:
        from .local import LocalExecutor

        return LocalExecutor(workers, retries=retries)
    from .ray_executor import RayExecutor

    return RayExecutor(ray, device=device, gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run, retries=retries)


def run(spec: "SweepSpec | str | Path", *, output: str | Path | None = None, executor=None, echo=print, **executor_options):
    """Plan, record and run a sweep (a spec, a spec file, or an existing sweep folder to go on
    with). Returns a :class:`pixengine.sweep.driver.SweepResult`."""
    from . import driver, folder, plan
    from .folder import is_sweep
    from .spec import load as load_spec

    record = None
    if isinstance(spec, (str, Path)) and is_sweep(spec):
        root, device = Path(spec), folder.SweepFolder(Path(spec)).read_record().get("device", "auto")
    else:
        spec = load_spec(spec) if isinstance(spec, (str, Path)) else spec
        planned = plan.make_plan(spec)
        record = planned.to_record()
        root = Path(output) if output is not None else folder.default_root(spec.name, planned.fingerprint)[0]
        device = planned.device
    own = executor is None
    if own:
        executor = make_executor(device=device, **executor_options)
    try:
        return driver.run(root, executor, record=record, echo=echo)
    finally:
        if own:
            executor.close()
