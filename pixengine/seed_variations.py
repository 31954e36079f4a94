"""Variations: the same run with several seeds, each in its own folder, and a contact sheet of
their results to choose from (``pixengine run PRESET --variations N``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .api import resolve, run
from .engine import RunResult, default_output_dir
from .errors import ConfigError
from .outputs import contact_sheet, save_png

SHEET_NAME = "variations.png"
#: Results per row of the sheet.
COLUMNS = 4


@dataclass
class Variations:
    results: list[RunResult]
    #: The folder holding one subfolder per seed and the sheet.
    output_dir: Path
    sheet_path: Path


def variation_seed(seed: int | str, index: int) -> int | str:
    """The seed of variation ``index``; variation 0 is the run itself."""
    if index == 0:
        return seed
    return seed + index if isinstance(seed, int) else f"{seed}-{index}"


def variations(
    preset: str | Path | None = None,
    prompt: str | None = None,
    *,
    count: int,
    overrides: list[str] | Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Variations:
    """Run ``count`` variations of a preset (seeds counting up from its seed) and write a
    contact sheet of their final images."""
    if count < 1:
        raise ConfigError(f"the number of variations must be at least 1, got {count}")
    settings = resolve(preset, prompt, overrides=overrides, **kwargs).settings
    folder = Path(settings.output_dir) if settings.output_dir else default_output_dir(settings.preset)
    results = []
    for index in range(count):
        seed = variation_seed(settings.seed, index)
        subfolder = folder / f"seed-{re.sub(r'[^A-Za-z0-9._-]+', '_', str(seed))}"
        results.append(run(preset, prompt, overrides=overrides, **{**kwargs, "seed": seed, "output_dir": str(subfolder)}))
    items = [(f"seed {result.config.seed}", result.image) for result in results]
    sheet_path = save_png(folder / SHEET_NAME, contact_sheet(items, columns=COLUMNS))
    return Variations(results=results, output_dir=folder, sheet_path=sheet_path)
