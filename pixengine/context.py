"""What a component receives besides its options: the run's device, size, config, models and
helpers to load images. One :class:`RunContext` per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from . import images
from .errors import ConfigError, did_you_mean


@dataclass
class RunContext:
    device: torch.device
    width: int
    height: int
    steps: int
    seed: int
    #: The fully resolved config of the run (read-only by convention).
    config: DictConfig
    output_dir: Path | None = None
    models: dict[str, Any] = field(default_factory=dict)
    #: The run's parameterization, set once it is built (losses built after it may read it,
    #: e.g. to anchor a latent to its starting value).
    parameterization: Any = None
    #: The run's augmentation chain (None without augmentations), set before the losses are
    #: built, so a loss can check what views it will get.
    augment: Any = None
    dtype: torch.dtype = torch.float32
    #: With a shared recipe (a PNG, a bundle): the only files components may open, besides
    #: ``pkg:`` resources. None: any file (a recipe the user wrote or chose).
    allowed_files: set[str] | None = None

    #: The run's ``prompt``, parsed (checked when the config was validated).
    prompts: tuple = ()

    @property
    def prompt(self) -> str:
        """The run's ``prompt`` text (``prompts`` holds it parsed)."""
        return str(self.config.get("prompt", "") or "")

    def model(self, label: str) -> Any:
        """The model built from ``models.LABEL`` (validation already checked ``model`` and
        ``models`` options; this check covers other option names)."""
        if label not in self.models:
            raise ConfigError(f"no model labelled '{label}'; {did_you_mean(label, self.models)}")
        return self.models[label]

    def check_file(self, path: str | Path, option: str | None = None) -> None:
        """Refuse a file a shared recipe may not name (see :mod:`pixengine.sharing.paths`): one
        given in an option its component did not declare as a file."""
        text = str(path)
        if self.allowed_files is None or text.startswith(images.PACKAGE_SCHEME) or text in self.allowed_files:
            return
        raise ConfigError(
            f"'{text}' comes from a shared recipe through an option not declared as a file "
            "(option(..., file='image')), so it cannot be checked; refused",
            key=option,
        )

    def load_image(
        self, path: str | Path, size: tuple[int, int] | None = None, fit: str = "cover", *, option: str | None = None
    ) -> torch.Tensor:
        """An image file as (1, 3, H, W) in [0, 1] on the run's device. ``size`` is (width,
        height), default the run's. ``option`` names the option that gave the path, for errors."""
        self.check_file(path, option)
        try:
            tensor = images.load_image(path, size or (self.width, self.height), fit)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key=option) from None
        return tensor.to(self.device, self.dtype)
