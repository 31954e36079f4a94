"""The Python API: resolve a preset into a validated run, and run it.

    import pixengine
    result = pixengine.run("default", steps=50, output_dir="out")
    result.image.show()
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from . import checkpoint
from . import config as config_module
from .engine import Run, RunResult
from .outputs import read_run_document
from .plugins import get_registry
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

    ``preset`` is a registered name or a YAML path (default: ``default``); ``from_image`` a PNG
    written by pixengine, whose embedded config is used instead; ``resume`` a run's output
    folder, whose checkpoint's config is used (and the folder written to). ``overrides`` are ``key=value``
    strings or a mapping of dotted keys; keyword arguments are more overrides
    (``steps=10``, ``**{"losses.tv.weight": 0.5}``).
    """
    registry = get_registry()
    listed = list(overrides) if overrides is not None and not isinstance(overrides, Mapping) else []
    mapped: dict[str, Any] = dict(overrides) if isinstance(overrides, Mapping) else {}
    mapped.update(kwargs)
    if prompt is not None:
        mapped["prompt"] = prompt
    if resume is not None:
        document = yaml.safe_load(checkpoint.load(Path(resume))["document"])
        _warn_about_versions(document, registry)
        base = {**document["config"], "output_dir": str(resume)}
        loaded = config_module.load(None, registry, listed, base=base, base_source=str(Path(resume) / checkpoint.CHECKPOINT_NAME))
    elif from_image is not None:
        document = read_run_document(from_image)
        _warn_about_versions(document, registry)
        base = dict(document["config"])
        # A re-run writes to a new folder unless told otherwise, never over the original.
        base["output_dir"] = None
        loaded = config_module.load(None, registry, listed, base=base, base_source=str(from_image))
    else:
        loaded = config_module.load(preset, registry, listed)
    config_module.apply_overrides(loaded, mapped)
    return validate(loaded, registry)


def _warn_about_versions(document: dict, registry) -> None:
    for name, recorded in (document.get("plugins") or {}).items():
        info = registry.plugins.get(name)
        current = info.version if info else None
        if info is None or not info.ok:
            print(f"warning: the run used plugin '{name}', which is not available here", file=sys.stderr)
        elif recorded.get("version") != current:
            print(
                f"warning: the run used plugin '{name}' {recorded.get('version')}, this machine has {current}; "
                "the image may differ",
                file=sys.stderr,
            )


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
    """Run a preset and return the result: ``result.image`` (PIL), ``result.tensor``,
    ``result.final_path`` and ``result.paths`` (every file written). ``resume=FOLDER`` goes on
    with a run that stopped there (``steps=N`` to go on past a finished one)."""
    return prepare(preset, prompt, overrides=overrides, from_image=from_image, resume=resume, **kwargs).execute()
