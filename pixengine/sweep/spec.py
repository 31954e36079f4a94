"""A sweep spec: the base recipe, overrides common to every run, and the axes to vary.

Read from YAML (possibly someone else's, so through the bounded plain-data reader and the
interpolation check) or built from ``pixengine sweep PRESET --grid ... --seeds N``. This
module only checks the spec's shape; each expanded run is validated by ``pixengine.resolve``
(see :mod:`pixengine.sweep.plan`). No torch here.

    name: cat-weights              # optional: names the default folder outputs/sweep-NAME-DATE
    recipe: repaint                # preset name or .yaml, a PNG written by pixengine, a run folder, a bundle
    prompt: a cat                  # optional base prompt
    overrides: {steps: 40, width: 96}
    grid:                          # every combination of these values
      losses.smooth.weight: [0.02, 0.05, 0.1]
    prompts: [a red fox, a blue whale]   # or prompts_file: prompts.txt (one per line, # comments)
    seeds: 4                       # 4 seeds counting up from the recipe's, or a list
    random: {count: 8, seed: 0, optimizer.lr: [0.01, 0.1], losses.tv.weight: {log: [0.01, 1]}}
    keep_best: 2                   # best-of-N by successive halving (with `by`)
    by: total
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import interpolation, safe_yaml
from ..errors import ConfigError

SPEC_KEYS = ("name", "recipe", "prompt", "overrides", "grid", "prompts", "prompts_file", "seeds", "random",
             "keep_best", "by", "eta", "sheet")
#: A prompts file is text, one prompt a line; larger is refused before it is read.
MAX_PROMPTS_BYTES = 1_000_000
MAX_PROMPT_CHARS = 2_000


@dataclass
class RandomAxis:
    """``count`` points drawn from ranges, reproducibly (``seed``)."""

    count: int
    seed: int
    #: key -> (low, high, log scale)
    ranges: dict[str, tuple[float, float, bool]]


@dataclass
class SweepSpec:
    recipe: str
    source: str
    name: str = "sweep"
    prompt: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    prompts: list[str] | None = None
    seeds: int | list[Any] | None = None
    random: RandomAxis | None = None
    keep_best: int | None = None
    by: str = "total"
    #: Successive halving's reduction factor: each rung keeps 1/eta of the runs.
    eta: int = 2
    #: Which axis the contact sheet lays out in columns (default: the last that varies).
    columns: str | None = None

    def to_data(self) -> dict:
        """The spec as plain data (recorded in the sweep folder)."""
        data: dict[str, Any] = {"name": self.name, "recipe": self.recipe}
        if self.prompt is not None:
            data["prompt"] = self.prompt
        for key in ("overrides", "grid", "prompts", "seeds"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.random is not None:
            data["random"] = {"count": self.random.count, "seed": self.random.seed,
                              **{k: ({"log": [lo, hi]} if log else [lo, hi]) for k, (lo, hi, log) in self.random.ranges.items()}}
        if self.keep_best:
            data.update(keep_best=self.keep_best, by=self.by, eta=self.eta)
        if self.columns:
            data["sheet"] = {"columns": self.columns}
        return data


def _flat(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """Nested overrides as dotted keys (``{optimizer: {lr: 1}}`` -> ``optimizer.lr``); a
    ``{log: [low, high]}`` range is a value, not a level."""
    flat = {}
    for key, value in mapping.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value and set(value) != {"log"}:
            flat.update(_flat(value, path))
        else:
            flat[path] = value
    return flat


def _int(value: Any, key: str, source: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"must be a whole number >= {minimum}, got {value!r}", key=key, source=source)
    return value


def _axis_values(key: str, values: Any, source: str) -> list[Any]:
    if not isinstance(values, list):
        raise ConfigError(f"a grid axis is a list of values, e.g. {key}: [0.1, 0.2]; got {values!r}", key=f"grid.{key}", source=source)
    if not values:
        raise ConfigError("the axis is empty; give it at least one value (or remove it)", key=f"grid.{key}", source=source)
    return values


def _random_axis(data: Any, source: str) -> RandomAxis:
    if not isinstance(data, dict):
        raise ConfigError("random is a mapping: {count: N, KEY: [low, high], ...}", key="random", source=source)
    data = dict(data)
    if "count" not in data:
        raise ConfigError("random needs count: how many points to draw", key="random.count", source=source)
    count = _int(data.pop("count"), "random.count", source, 1)
    seed = _int(data.pop("seed", 0), "random.seed", source, 0)
    ranges = {}
    for key, bounds in _flat(data).items():
        log = False
        if isinstance(bounds, dict) and set(bounds) == {"log"}:
            bounds, log = bounds["log"], True
        if not (isinstance(bounds, list) and len(bounds) == 2
                and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds) and bounds[0] < bounds[1]):
            raise ConfigError(
                f"a random range is [low, high] with low < high (or {{log: [low, high]}}), got {bounds!r}",
                key=f"random.{key}", source=source)
        if log and bounds[0] <= 0:
            raise ConfigError(f"a log range needs low > 0, got {bounds!r}", key=f"random.{key}", source=source)
        ranges[key] = (bounds[0], bounds[1], log)
    if not ranges:
        raise ConfigError("random names no key to draw; add KEY: [low, high]", key="random", source=source)
    return RandomAxis(count=count, seed=seed, ranges=ranges)


def read_prompts_file(path: Path, source: str) -> list[str]:
    """One prompt a line; blank lines and lines starting with # are skipped. Bounded."""
    try:
        size = path.stat().st_size
        if size > MAX_PROMPTS_BYTES:
            raise ConfigError(f"'{path}' has {size} bytes, more than the {MAX_PROMPTS_BYTES} a prompts file may have",
                              key="prompts_file", source=source)
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"prompts file '{path}' does not exist", key="prompts_file", source=source) from None
    except UnicodeDecodeError:
        raise ConfigError(f"prompts file '{path}' is not UTF-8 text", key="prompts_file", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read prompts file '{path}': {exc.strerror or exc}", key="prompts_file", source=source) from None
    prompts = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    for number, prompt in enumerate(prompts, 1):
        if len(prompt) > MAX_PROMPT_CHARS:
            raise ConfigError(f"prompt {number} of '{path}' has {len(prompt)} characters, more than {MAX_PROMPT_CHARS}",
                              key="prompts_file", source=source)
    if not prompts:
        raise ConfigError(f"prompts file '{path}' holds no prompt (one a line; # starts a comment)", key="prompts_file", source=source)
    return prompts


def _recipe_path(recipe: str, base: Path | None) -> str:
    """A recipe file named relative to the spec's folder, when it is there."""
    if base is not None and not Path(recipe).is_absolute() and (base / recipe).exists():
        return str(base / recipe)
    return recipe


def from_data(data: dict, source: str, base: Path | None = None) -> SweepSpec:
    """Check a spec's shape and build it. ``base``: the folder relative paths start from."""
    unknown = [key for key in data if key not in SPEC_KEYS]
    if unknown:
        import difflib

        close = difflib.get_close_matches(str(unknown[0]), SPEC_KEYS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown key '{unknown[0]}' in a sweep spec{hint} Valid: {', '.join(SPEC_KEYS)}. "
                          "(To sweep a preset file, give axes on the command line: pixengine sweep FILE --grid KEY=V1,V2)",
                          key=str(unknown[0]), source=source)
    if not isinstance(data.get("recipe"), str) or not data["recipe"]:
        raise ConfigError("a sweep spec needs recipe: a preset name or file, a PNG written by pixengine, a run folder or a bundle",
                          key="recipe", source=source)
    spec = SweepSpec(recipe=_recipe_path(data["recipe"], base), source=source)
    spec.name = str(data.get("name") or (Path(source).stem if source.endswith((".yaml", ".yml")) else Path(spec.recipe).stem) or "sweep")
    if data.get("prompt") is not None:
        if not isinstance(data["prompt"], str):
            raise ConfigError(f"prompt is text, got {data['prompt']!r}", key="prompt", source=source)
        spec.prompt = data["prompt"]
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise ConfigError("overrides is a mapping of (dotted) keys to values", key="overrides", source=source)
    spec.overrides = _flat(overrides)
    grid = data.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError("grid is a mapping of keys to lists of values", key="grid", source=source)
    spec.grid = {key: _axis_values(key, values, source) for key, values in grid.items()}
    if "prompts" in data and "prompts_file" in data:
        raise ConfigError("give prompts or prompts_file, not both", key="prompts", source=source)
    if "prompts" in data:
        prompts = data["prompts"]
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise ConfigError("prompts is a non-empty list of texts", key="prompts", source=source)
        spec.prompts = prompts
    if "prompts_file" in data:
        path = Path(str(data["prompts_file"]))
        spec.prompts = read_prompts_file(path if path.is_absolute() or base is None else base / path, source)
    if "seeds" in data:
        seeds = data["seeds"]
        if isinstance(seeds, list):
            if not seeds or not all(isinstance(s, (int, str)) and not isinstance(s, bool) for s in seeds):
                raise ConfigError("seeds is a count or a non-empty list of integer or text seeds", key="seeds", source=source)
            if len(set(map(str, seeds))) != len(seeds):
                raise ConfigError(f"seeds lists a seed twice: {seeds!r}", key="seeds", source=source)
        else:
            seeds = _int(seeds, "seeds", source, 1)
        spec.seeds = seeds
    if data.get("random") is not None:
        spec.random = _random_axis(data["random"], source)
    if data.get("keep_best") is not None:
        spec.keep_best = _int(data["keep_best"], "keep_best", source, 1)
    if data.get("by") is not None:
        spec.by = str(data["by"])
    if data.get("eta") is not None:
        spec.eta = _int(data["eta"], "eta", source, 2)
    sheet = data.get("sheet") or {}
    if not isinstance(sheet, dict) or set(sheet) - {"columns"}:
        raise ConfigError("sheet is a mapping with columns: AXIS", key="sheet", source=source)
    spec.columns = sheet.get("columns")
    check_axes_apart(spec)
    return spec


def check_axes_apart(spec: SweepSpec) -> None:
    """A key is set in one place: the common overrides, the grid, or the random ranges."""
    places = {"overrides": set(spec.overrides), "grid": set(spec.grid), "random": set(spec.random.ranges) if spec.random else set()}
    special = {"prompt": spec.prompts is not None, "seed": spec.seeds is not None}
    names = list(places)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            both = places[first] & places[second]
            if both:
                key = sorted(both)[0]
                raise ConfigError(f"'{key}' is set both in {first} and in {second}; keep it in one", key=key, source=spec.source)
    for key, varied in special.items():
        for place, keys in places.items():
            if varied and key in keys:
                axis = "prompts" if key == "prompt" else "seeds"
                raise ConfigError(f"'{key}' is varied by {axis} and also set in {place}; keep one", key=key, source=spec.source)


def load(path: str | Path) -> SweepSpec:
    """Read a sweep spec file (bounded, plain data, no interpolation beyond its own keys)."""
    path = Path(path)
    data = safe_yaml.load_file(path, what="sweep spec")
    interpolation.check(data, source=str(path))
    return from_data(data, str(path), base=path.parent)
