"""A sweep's plan: its runs expanded and each one validated by ``pixengine.resolve`` before
anything runs, so a bad axis value is reported for its run, naming the key and the value.
The plan is what ``sweep.json`` records; its fingerprint (the runs' resolved configs) tells
whether a folder holds this very sweep."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from . import halving
from .expand import Axis, PlannedRun, expand
from .spec import SweepSpec

#: Distinct run errors listed before "and N more".
SHOWN_ERRORS = 5


@dataclass
class Plan:
    spec: SweepSpec
    axes: list[Axis]
    runs: list[PlannedRun]
    #: Every run's steps (best-of-N needs them equal; otherwise the largest, for display).
    steps: int
    #: The device the recipe asks for (``auto``, ``cpu``, ``cuda``...), for Ray's resources.
    device: str
    fingerprint: str
    rungs: list[halving.Rung] = field(default_factory=list)

    def overrides_of(self, run: PlannedRun) -> dict[str, Any]:
        return {**self.spec.overrides, **run.overrides}

    def to_record(self) -> dict:
        return {
            "name": self.spec.name,
            "spec": self.spec.to_data(),
            "source": self.spec.source,
            "recipe": self.spec.recipe,
            "prompt": self.spec.prompt,
            "overrides": self.spec.overrides,
            "steps": self.steps,
            "device": self.device,
            "fingerprint": self.fingerprint,
            "axes": [{"name": axis.name, "labels": axis.labels} for axis in self.axes],
            "halving": ({"keep": self.spec.keep_best, "by": self.spec.by, "eta": self.spec.eta,
                         "rungs": [[r.step, r.keep] for r in self.rungs]} if self.spec.keep_best else None),
            "columns": self.spec.columns,
            "runs": [run.to_data() for run in self.runs],
        }


def _config_digest(config: Any) -> str:
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(config, resolve=True)
    data.pop("output_dir", None)
    data.pop("progress", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _axis_key(run: PlannedRun, exc: ConfigError) -> str | None:
    """The axis key of ``run`` an error is about, if any."""
    if exc.key is None:
        return None
    for key in run.overrides:
        if exc.key == key or exc.key.startswith(f"{key}.") or key.startswith(f"{exc.key}."):
            return key
    return None


def _report(spec: SweepSpec, failures: list[tuple[PlannedRun, ConfigError]]) -> list[str]:
    """One line per distinct problem, naming the axis key and value(s) and the runs."""
    grouped: dict[tuple, list[PlannedRun]] = {}
    for run, exc in failures:
        key = _axis_key(run, exc)
        grouped.setdefault((key, exc.detail if key else str(exc)), []).append(run)
    lines = []
    for (key, problem), runs in grouped.items():
        ids = ", ".join(run.id for run in runs[:3]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
        if key is None:
            lines.append(f"{spec.source}: run{'s' if len(runs) > 1 else ''} {ids}: {problem}")
            continue
        values = list(dict.fromkeys(repr(run.overrides[key]) for run in runs))
        shown = values[0] if len(values) == 1 else "{" + ", ".join(values) + "}"
        lines.append(f"{spec.source}: {key}={shown} (run{'s' if len(runs) > 1 else ''} {ids}): {problem}")
    return lines


def make_plan(spec: SweepSpec) -> Plan:
    """Expand and validate every run (ConfigError listing the runs that fail, before any runs)."""
    from ..api import resolve

    if spec.random is not None or spec.grid:
        for key in [*spec.grid, *(spec.random.ranges if spec.random else {})]:
            if key in ("output_dir", "seed", "prompt"):
                hint = "use seeds: N" if key == "seed" else "use prompts: [...]" if key == "prompt" else "each run has its own folder"
                raise ConfigError(f"'{key}' cannot be a grid or random axis; {hint}", key=key, source=spec.source)
    try:
        base = resolve(spec.recipe, spec.prompt, overrides=dict(spec.overrides))
    except ConfigError as exc:
        raise ConfigError(f"the sweep's recipe and overrides: {exc}", source=spec.source) from None
    axes, runs = expand(spec, base.settings.seed)
    failures: list[tuple[PlannedRun, ConfigError]] = []
    digests, steps = [], set()
    for run in runs:
        overrides = {**spec.overrides, **run.overrides}
        if "seed" not in overrides:
            # A recipe without a seed picks one at random: fix it now, so every rerun of the
            # sweep (resuming, retrying) makes the same image.
            run.overrides["seed"] = overrides["seed"] = base.settings.seed
        try:
            resolved = resolve(spec.recipe, spec.prompt, overrides=overrides)
        except ConfigError as exc:
            failures.append((run, exc))
            continue
        digests.append(_config_digest(resolved.config))
        steps.add(resolved.settings.steps)
    errors = _report(spec, failures)
    if errors:
        more = f"\n  ... and {len(errors) - SHOWN_ERRORS} more" if len(errors) > SHOWN_ERRORS else ""
        raise ConfigError("some runs of the sweep are not valid; nothing was run:\n  " + "\n  ".join(errors[:SHOWN_ERRORS]) + more)
    run_steps = max(steps) if steps else base.settings.steps
    rungs: list[halving.Rung] = []
    if spec.keep_best:
        if len(steps) > 1:
            raise ConfigError(f"keep_best compares runs at the same steps, but the runs have steps {sorted(steps)}; "
                              "do not vary steps in a best-of-N sweep", key="keep_best", source=spec.source)
        labels = [component.label for component in base.losses]
        if spec.by != "total" and spec.by not in labels:
            raise ConfigError(f"by: '{spec.by}' is not a loss of the runs; give total or one of: {', '.join(labels)}",
                              key="by", source=spec.source)
        rungs = halving.schedule(len(runs), spec.keep_best, run_steps, spec.eta)
    identity = {"recipe": spec.recipe, "prompt": spec.prompt,
                "runs": [[run.id, digest] for run, digest in zip(runs, digests)],
                "halving": [spec.keep_best, spec.by, spec.eta] if spec.keep_best else None}
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Plan(spec=spec, axes=axes, runs=runs, steps=run_steps,
                device=str(base.settings.device), fingerprint=fingerprint, rungs=rungs)
