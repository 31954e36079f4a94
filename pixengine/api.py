"""The Python API: resolve a recipe into a validated run, and run it.

    import pixengine
    result = pixengine.run("default", steps=50, output_dir="out")
    result.image.show()
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import checkpoint
from . import config as config_module
from .engine import Run, RunResult
from .errors import ConfigError, PluginError
from .plugins import get_registry
from .sharing.paths import check_shared_paths
from .sharing.reproduce import missing_plugins
from .sharing.recipes import Recipe, open_recipe, read_run_folder
from .validate import RunSpec, validate


def resolve(
    preset: str | Path | None = None,
    prompt: str | None = None,
    *,
    overrides: list[str] | Mapping[str, Any] | None = None,
    from_image: str | Path | None = None,
    resume: str | Path | None = None,
    **kwargs: Any,
) -> RunSpec:
    """Load, merge and validate a run's config without building anything.

    ``preset`` is a recipe: a registered name or a YAML path (default: ``default``), or a PNG
    written by pixengine, a run folder or a bundle ``.zip`` (see
    :mod:`pixengine.sharing.recipes`); ``from_image`` the same as a PNG (``--from``);
    ``resume`` a run's output folder, whose checkpoint's config is used (and the folder written
    to). ``overrides`` are ``key=value`` strings or a mapping of dotted keys; keyword arguments
    are more overrides (``steps=10``, ``**{"losses.tv.weight": 0.5}``).
    """
    registry = get_registry()
    listed = list(overrides) if overrides is not None and not isinstance(overrides, Mapping) else []
    mapped: dict[str, Any] = dict(overrides) if isinstance(overrides, Mapping) else {}
    mapped.update(kwargs)
    if prompt is not None:
        mapped["prompt"] = prompt
    if resume is not None:
        path = Path(resume) / checkpoint.CHECKPOINT_NAME
        recipe = Recipe(kind="run", ref=str(resume), document=checkpoint.read_document(Path(resume)), origin=str(path))
        _check_checkpoint_belongs(Path(resume), recipe.config)
        base = {**recipe.config, "output_dir": str(resume)}
    else:
        if from_image is not None and preset is not None:
            raise ConfigError("give a preset or --from, not both")
        recipe = open_recipe(from_image if from_image is not None else preset)
        if from_image is not None and not recipe.shared:
            raise ConfigError(f"--from takes a PNG written by pixengine, a run folder or a bundle, not '{from_image}'")
        # A re-run writes to a new folder unless told otherwise, never over the original.
        base = {**recipe.config, "output_dir": None} if recipe.shared else None
    if base is not None:
        missing = missing_plugins(recipe.metadata.get("plugins"), registry)
        if missing:
            raise PluginError(f"{recipe.origin}: the recipe needs plugins this machine lacks:\n" + "\n".join(f"  - {m}" for m in missing))
        loaded = config_module.load(None, registry.presets, listed, base=base, base_source=recipe.origin)
    else:
        try:
            loaded = config_module.load(recipe.ref, registry.presets, listed)
        except ConfigError as exc:
            raise _with_failed_plugins(exc, registry) from None
    config_module.apply_overrides(loaded, mapped)
    spec = validate(loaded, registry)
    spec.recipe = recipe
    check_shared_paths(spec, recipe)
    return spec


def _check_checkpoint_belongs(folder: Path, config: dict) -> None:
    """Refuse a checkpoint made by another run than the one whose files are in ``folder``:
    resuming it would overwrite that run's outputs."""
    try:
        document = read_run_folder(folder)
    except ConfigError:
        return  # no readable run.yaml or final.png: nothing in the folder to protect
    differences = checkpoint.identity_differences(config, document.get("config") or {})
    if differences:
        raise ConfigError(
            f"'{folder / checkpoint.CHECKPOINT_NAME}' was made by another run than the one in '{folder}' "
            f"({'; '.join(differences[:4])}): resuming it would overwrite that run's outputs. Move the checkpoint into a "
            "folder of its own and resume that."
        )


def _with_failed_plugins(exc: ConfigError, registry) -> ConfigError:
    """An unknown preset may be one a broken plugin would have provided: say which failed."""
    failed = registry.failed_plugins()
    if not exc.detail.startswith("unknown preset") or not failed:
        return exc
    listing = "\n".join(f"  - {p.name}: {p.error or '; '.join(p.refused)}" for p in failed)
    return ConfigError(f"{exc.detail}\nThese plugins failed to load and may provide it:\n{listing}", key=exc.key, source=exc.source)


def prepare(*args: Any, resume: str | Path | None = None, **kwargs: Any) -> Run:
    """A built :class:`Run` (components and models loaded), ready to ``execute()``; with
    ``resume``, loaded with the state of the run that stopped in that folder."""
    spec = resolve(*args, resume=resume, **kwargs)
    run = Run(spec, get_registry()).build()
    return run.resume(resume) if resume is not None else run


def run(
    preset: str | Path | None = None,
    prompt: str | None = None,
    *,
    overrides: list[str] | Mapping[str, Any] | None = None,
    from_image: str | Path | None = None,
    resume: str | Path | None = None,
    **kwargs: Any,
) -> RunResult:
    """Run a recipe and return the result: ``result.image`` (PIL), ``result.tensor``,
    ``result.final_path`` and ``result.paths`` (every file written). ``resume=FOLDER`` goes on
    with a run that stopped there (``steps=N`` to go on past a finished one)."""
    return prepare(preset, prompt, overrides=overrides, from_image=from_image, resume=resume, **kwargs).execute()
