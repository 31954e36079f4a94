"""What a preset-sharing community asks of a recipe: what is it (``pixengine info``), is it valid
here (``pixengine presets validate``), and how does it differ from another one (``pixengine
presets diff``)."""

from __future__ import annotations

import importlib.metadata as metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PixengineError
from .identity import local_file_with
from .recipes import Recipe, open_recipe

# -- info: torch-free --------------------------------------------------------------------------


def _installed_version(distribution: str | None) -> str | None:
    if not distribution:
        return None
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "unknown"
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def info_text(ref: str | Path) -> str:
    """A recipe's story: what made it, with what, and what this machine lacks to run it again.
    Reads data only (no torch, no plugin code)."""
    recipe = open_recipe(ref)
    if recipe.kind == "preset":
        raise PixengineError(f"'{ref}' is a preset; `pixengine presets show {ref}` prints it (info reads PNGs, run folders and bundles)")
    meta, config = recipe.metadata, recipe.config
    lines = [f"{ref}: {'a recipe bundle' if recipe.kind == 'bundle' else 'a PNG written by pixengine' if recipe.kind == 'png' else 'a run folder'}"]
    lines.append(f"  preset:   {config.get('preset') or '(none)'}")
    if config.get("prompt"):
        lines.append(f"  prompt:   {config['prompt']}")
    lines.append(f"  seed:     {meta.get('seed', config.get('seed'))}")
    lines.append(f"  size:     {config.get('width')}x{config.get('height')}")
    steps = meta.get("steps", config.get("steps"))
    lines.append(f"  steps:    {meta.get('step', '?')} of {steps}")
    if meta.get("status"):
        lines.append(f"  status:   {meta['status']}" + (f" (resumed at step {', '.join(map(str, meta['resumed_at']))})" if meta.get("resumed_at") else ""))
    lines.append(f"  time:     {_duration(meta.get('seconds'))} of optimisation")
    made = ", ".join(f"{k} {meta[k]}" for k in ("pixengine", "torch") if meta.get(k))
    if made:
        lines.append(f"  made by:  {made}" + (f" on {meta['device']}" if meta.get("device") else ""))
    missing = []
    plugins = meta.get("plugins") or {}
    if plugins:
        lines.append("  plugins:")
        for name, info in sorted(plugins.items()):
            info = info or {}
            here = _installed_version(info.get("distribution"))
            state = "installed" if here == info.get("version") else f"here: {here}" if here else "NOT INSTALLED here"
            lines.append(f"    {name}: {info.get('distribution')} {info.get('version')} ({state})")
            if here is None:
                missing.append(f"plugin '{name}': pip install '{info.get('distribution')}=={info.get('version')}'")
    weights = meta.get("weights") or {}
    if weights:
        lines.append("  weights:")
        for key, files in sorted(weights.items()):
            for name, identity in sorted((files or {}).items()):
                sha = (identity or {}).get("sha256")
                known = local_file_with(sha) if sha else None
                state = f"here: {known}" if known else "not seen on this machine"
                lines.append(f"    {key}: {name} ({(identity or {}).get('file')}, sha256 {(sha or '?')[:12]}...) - {state}")
                if known is None:
                    missing.append(f"{key} weights '{name}' (sha256 {(sha or '?')[:12]}...): `pixengine models list` shows where they are looked for")
    files = meta.get("files") or {}
    if recipe.kind != "bundle" and files:
        lines.append("  input files:")
        for path, sha in sorted(files.items()):
            present = _present(path, sha)
            lines.append(f"    {path} (sha256 {str(sha)[:12]}...) - {present}")
            if present != "here, identical":
                missing.append(f"input file {path}: {present}")
    if recipe.kind == "bundle":
        lines.append(f"  bundled files: {len(recipe.bundle.manifest.get('files') or {})} (extracted to {recipe.bundle.root})")
    if recipe.kind == "run":
        from ..rundir import summarize

        summary = summarize(Path(ref))
        lines.append(f"  folder:   {summary.status}, step {summary.step}/{summary.steps}" + (", resumable with --resume" if summary.resumable else ""))
    lines.append("  missing here: " + ("nothing" if not missing else ""))
    lines += [f"    - {item}" for item in missing]
    return "\n".join(lines)


def _present(path: str, sha: str) -> str:
    from ..resources import resolve_path
    from .identity import sha256_of

    try:
        local = resolve_path(path)
    except PixengineError:
        return "its package is not installed here"
    if not local.is_file():
        return "absent here"
    return "here, identical" if sha256_of(local) == sha else "here, but different content"


# -- validate -----------------------------------------------------------------------------------


@dataclass
class Validation:
    ref: str
    problems: list[dict] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        if self.valid:
            return [f"{self.ref}: valid"]
        return [f"{self.ref}: {p['key'] + ': ' if p.get('key') else ''}{p['message']}" for p in self.problems]


def validate_recipe(ref: str) -> Validation:
    """Everything that would stop ``pixengine run REF`` before step 1, short of loading models:
    the recipe's syntax and safety, its plugins, every key and option, its files."""
    from ..api import resolve
    from ..errors import ConfigError

    result = Validation(ref=ref)
    try:
        resolve(ref)
    except ConfigError as exc:
        result.problems.append({"key": exc.key, "message": exc.detail, "source": exc.source})
    except PixengineError as exc:
        result.problems.append({"key": None, "message": str(exc).replace("\n", " "), "source": None})
    return result


# -- diff ----------------------------------------------------------------------------------------


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of nested mappings; lists are values."""
    if isinstance(data, dict) and data:
        flat = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


def resolved_config(ref: str) -> tuple[dict, dict[str, str]]:
    """(the fully resolved config, {dotted key: SHA-256 of the file it names}) of a recipe."""
    from omegaconf import OmegaConf

    from ..api import resolve
    from ..resources import resolve_path
    from .identity import sha256_of
    from .paths import declared_files

    spec = resolve(ref)
    config = OmegaConf.to_container(spec.config, resolve=True)
    config.pop("output_dir", None)  # where a run writes says nothing about the picture
    identities = {}
    for key, path in declared_files(spec):
        local = resolve_path(path)
        if local.is_file():
            identities[key] = identities.get(key, "") + sha256_of(local)
    return config, identities


def diff_lines(a: str, b: str) -> list[str]:
    """The key-by-key difference of two fully resolved recipes (defaults filled in). Options
    naming files compare by content: the same image at two paths is no difference."""
    (left, left_files), (right, right_files) = resolved_config(a), resolved_config(b)
    left, right = flatten(left), flatten(right)
    lines = []
    for key in sorted(set(left) | set(right)):
        if key not in right:
            lines.append(f"- {key}: {left[key]!r}")
        elif key not in left:
            lines.append(f"+ {key}: {right[key]!r}")
        elif left[key] != right[key] and not (key in left_files and left_files[key] == right_files.get(key)):
            lines.append(f"~ {key}: {left[key]!r} -> {right[key]!r}")
    return lines


__all__ = ["Recipe", "Validation", "diff_lines", "info_text", "validate_recipe"]
