"""What lifecycle hooks see of a run: a read-only view, documented here, that stays the same
when the engine's insides change (plugin API 1.1; ``stop`` since 1.2).

A hook receives it as ``run``::

    @pixengine.hookimpl
    def on_step(run, step, image, losses):
        if step % run.settings_of("my_plugin").every == 0:
            save(image, run.output_dir / f"{step}.png")
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from omegaconf import DictConfig

    from .engine import Run
    from .schema import RunSettings


class RunView:
    """A read-only view of a :class:`pixengine.engine.Run` for lifecycle hooks."""

    __slots__ = ("_run",)

    def __init__(self, run: Run):
        self._run = run

    @property
    def config(self) -> DictConfig:
        """The fully resolved config (read-only): what the run's PNGs carry."""
        from omegaconf import OmegaConf

        config = OmegaConf.create(OmegaConf.to_container(self._run.config))
        OmegaConf.set_readonly(config, True)
        return config

    @property
    def settings(self) -> RunSettings:
        """The core settings, typed: ``steps``, ``width``, ``height``, ``seed``, ``outputs``..."""
        return self._run.settings

    def settings_of(self, section: str) -> Any:
        """The validated settings a plugin declared with ``register_settings`` (a dataclass)."""
        return self._run.spec.plugin_settings[section]

    @property
    def preset(self) -> str:
        return self._run.settings.preset

    @property
    def output_dir(self) -> Path:
        return self._run.output_dir

    @property
    def step(self) -> int:
        """Steps done so far (0 before the first)."""
        return self._run.step

    @property
    def steps(self) -> int:
        return self._run.settings.steps

    @property
    def seed(self) -> int:
        """The integer seed the run's generators were seeded with."""
        return self._run.ctx.seed

    @property
    def device(self) -> str:
        return str(self._run.ctx.device)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) now: it changes when the run grows."""
        return self._run.ctx.width, self._run.ctx.height

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every file the run has written so far, in order."""
        return tuple(self._run.paths)

    @property
    def history(self) -> tuple[Mapping[str, Any], ...]:
        """One record per step done by this process: ``total``, ``losses``, ``raw``, ``seconds``."""
        return tuple(MappingProxyType(record) for record in self._run.history)

    def references(self) -> list[tuple[str, str, torch.Tensor]]:
        """The input images of the run's components, as (component label, image label,
        (1, 3, H, W) tensor in [0, 1]): the start image, style and content images..."""
        owners = [("start", self._run.parameterization), *((spec.label, loss) for spec, loss in self._run.losses)]
        return [(owner, label, tensor) for owner, component in owners for label, tensor in component.references().items()]

    def write_file(self, name: str, data: bytes) -> Path:
        """Write ``data`` atomically as ``name`` in the output folder and record it in
        ``paths`` (``result.paths`` when the run ends)."""
        from .outputs import atomic_write

        path = atomic_write(self._run.output_dir / name, lambda handle: handle.write(data))
        self._run.paths.append(path)
        return path

    def stop(self, reason: str) -> None:
        """Ask the run to end after the current step, as if it had reached its last one but
        with status ``"stopped"``: ``final.png`` and a checkpoint are written, the reason is
        recorded in its outputs (``stopped: REASON``), ``execute()`` returns normally and
        ``pixengine run --resume`` goes on from there. Call it from ``on_step``; an early
        stopper (a sweep's successive halving, a plateau detector) needs nothing else.

        .. versionadded:: 1.2
        """
        self._run.stop_reason = str(reason)

    def __repr__(self) -> str:
        return f"<RunView {self.preset or 'run'} step {self.step}/{self.steps} in {self.output_dir}>"
