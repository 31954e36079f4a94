"""Presets: find them, load them safely, apply ``extends`` and overrides, and remember which
file (or the command line) set each key so errors can say where to fix them.

A preset is a YAML mapping. ``extends: NAME`` or ``extends: [A, B]`` merges parents first (left
to right, each resolved the same way, to any depth), then the preset itself, then overrides.
A parent is looked up as a registered preset name, then as a path relative to the child file,
then relative to the working directory. Setting a component to ``null`` removes an inherited
one (``losses: {tv: null}``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError, did_you_mean, omegaconf_message
from .registry import Registry
from .schema import COMPONENT_SECTIONS, RunSettings

#: The parameterization's type when a preset names none.
_DEFAULT_PARAMETERIZATION = RunSettings().parameterization["type"]

COMMAND_LINE = "command line"


@dataclass
class LoadedConfig:
    """A merged, not yet validated config with the source of every key."""

    cfg: DictConfig
    name: str
    #: dotted key -> the file or "command line" that set it last.
    provenance: dict[str, str] = field(default_factory=dict)
    #: the files read, child last.
    files: list[str] = field(default_factory=list)

    def source_of(self, key: str) -> str:
        """The source of ``key`` or of its closest parent that has one."""
        parts = key.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in self.provenance:
                return self.provenance[candidate]
            parts.pop()
        return self.files[-1] if self.files else COMMAND_LINE


def _is_path_like(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref


def find_preset(ref: str, registry: Registry, relative_to: Path | None = None) -> Path:
    """The file a preset reference names; ConfigError listing the known presets otherwise."""
    if not _is_path_like(ref) and ref in registry.presets:
        return registry.presets[ref].path
    candidates = []
    for base in ([relative_to] if relative_to else []) + [Path.cwd()]:
        candidates += [base / ref, base / f"{ref}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    if _is_path_like(ref):
        raise ConfigError(f"preset file '{ref}' does not exist (looked at {', '.join(map(str, candidates))})")
    raise ConfigError(f"unknown preset '{ref}'; {did_you_mean(ref, registry.presets)}")


def read_yaml(path: Path) -> DictConfig:
    """Load one YAML file safely (no object construction from tags) as a mapping."""
    try:
        cfg = OmegaConf.load(path)
    except OmegaConfBaseException as exc:
        raise ConfigError(omegaconf_message(exc), source=str(path)) from None
    except Exception as exc:  # yaml's own errors carry the line and column
        raise ConfigError(f"not valid YAML: {exc}", source=str(path)) from None
    if not isinstance(cfg, DictConfig):
        raise ConfigError("a preset must be a YAML mapping of keys to values", source=str(path))
    return cfg


def _flat_keys(node: Any, prefix: str = "") -> list[str]:
    keys = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            keys.append(path)
            keys.extend(_flat_keys(value, path))
    return keys


def _record(provenance: dict[str, str], cfg: DictConfig, source: str) -> None:
    # Mappings merge, so a parent's key that the child does not repeat keeps its source.
    for key in _flat_keys(OmegaConf.to_container(cfg, resolve=False)):
        provenance[key] = source


def _type_of(section: Any, default: str | None) -> str | None:
    if not OmegaConf.is_dict(section):
        return None
    return OmegaConf.to_container(section, resolve=False).get("type", default)


def _drop_retyped(base: DictConfig, top: DictConfig) -> DictConfig:
    """A component section whose type the top layer changes replaces the inherited one rather
    than merging with it: the inherited options belong to the old type (``extends: clip_pixels``
    with ``parameterization: {type: strokes}`` must not keep the pixels' options)."""
    replaced = None
    for key, (_, labelled) in COMPONENT_SECTIONS.items():
        if key not in top or key not in base or not OmegaConf.is_dict(top[key]) or not OmegaConf.is_dict(base[key]):
            continue
        if labelled:
            pairs = [(label, label) for label in top[key] if label in base[key]]
        else:
            pairs = [(None, _DEFAULT_PARAMETERIZATION)]
        for label, default in pairs:
            new = top[key] if label is None else top[key][label]
            old = base[key] if label is None else base[key][label]
            new_type = _type_of(new, None)
            if new_type is None or new_type == _type_of(old, default):
                continue
            replaced = replaced if replaced is not None else copy.deepcopy(base)
            # Emptied in place, not deleted, so a retyped augmentation keeps its place in the chain.
            if label is None:
                replaced[key] = {}
            else:
                replaced[key][label] = {}
    return replaced if replaced is not None else base


def _merge(base: DictConfig, top: DictConfig, source: str) -> DictConfig:
    try:
        return OmegaConf.merge(_drop_retyped(base, top), top)
    except OmegaConfBaseException as exc:
        raise ConfigError(omegaconf_message(exc), key=getattr(exc, "full_key", None), source=source) from None


def _load_chain(path: Path, registry: Registry, stack: tuple[Path, ...], loaded: LoadedConfig) -> DictConfig:
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise ConfigError(f"presets extend each other in a cycle: {chain}", source=str(path))
    own = read_yaml(path)
    parents = own.pop("extends", None)
    if parents is None:
        parents = []
    elif isinstance(parents, str):
        parents = [parents]
    elif not all(isinstance(p, str) for p in parents):
        raise ConfigError("'extends' must be a preset name or a list of names", key="extends", source=str(path))
    merged = OmegaConf.create({})
    for parent in parents:
        try:
            parent_path = find_preset(parent, registry, relative_to=path.parent)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key="extends", source=str(path)) from None
        merged = _merge(merged, _load_chain(parent_path, registry, (*stack, path), loaded), str(parent_path))
    _record(loaded.provenance, own, str(path))
    loaded.files.append(str(path))
    return _merge(merged, own, str(path))


def parse_overrides(overrides: list[str] | Mapping[str, Any] | None) -> DictConfig:
    """``key=value`` strings (values parsed as YAML) or a mapping of dotted keys to values."""
    cfg = OmegaConf.create({})
    if not overrides:
        return cfg
    items = overrides.items() if isinstance(overrides, Mapping) else None
    if items is None:
        for text in overrides:
            if "=" not in text:
                raise ConfigError(f"override '{text}' is not of the form key=value", source=COMMAND_LINE)
            key = text.split("=", 1)[0].strip()
            try:
                cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([text]))
            except OmegaConfBaseException as exc:
                raise ConfigError(f"cannot parse override '{text}': {omegaconf_message(exc)}", key=key, source=COMMAND_LINE) from None
            except yaml.YAMLError as exc:  # the value is parsed as YAML
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise ConfigError(
                    f"cannot parse override '{text}': its value is not valid YAML ({problem}); quote it to pass text",
                    key=key,
                    source=COMMAND_LINE,
                ) from None
        return cfg
    for key, value in items:
        try:
            OmegaConf.update(cfg, key, value, merge=True, force_add=True)
        except OmegaConfBaseException as exc:
            raise ConfigError(f"cannot apply override: {omegaconf_message(exc)}", key=key, source=COMMAND_LINE) from None
    return cfg


def load(
    ref: str | Path | None,
    registry: Registry,
    overrides: list[str] | Mapping[str, Any] | None = None,
    *,
    base: Mapping[str, Any] | None = None,
    base_source: str | None = None,
) -> LoadedConfig:
    """Load a preset (by name or path) with its parents, then apply ``overrides``.

    With ``base`` (a config dict, e.g. read from a PNG) instead of ``ref``, that config is the
    starting point and ``base_source`` names where it came from.
    """
    if base is not None:
        cfg = OmegaConf.create(dict(base))
        loaded = LoadedConfig(cfg=cfg, name=str(cfg.get("preset", "")), files=[base_source or "config"])
        _record(loaded.provenance, cfg, base_source or "config")
    else:
        path = find_preset(str(ref or "default"), registry)
        loaded = LoadedConfig(cfg=OmegaConf.create({}), name="")
        loaded.cfg = _load_chain(path, registry, (), loaded)
        is_registered = not _is_path_like(str(ref or "default")) and str(ref or "default") in registry.presets
        loaded.name = str(ref or "default") if is_registered else path.stem
        loaded.cfg.preset = loaded.name
    return apply_overrides(loaded, overrides)


def apply_overrides(loaded: LoadedConfig, overrides: list[str] | Mapping[str, Any] | None) -> LoadedConfig:
    """Merge command-line style overrides on top of a loaded config, recording their source."""
    extra = parse_overrides(overrides)
    _record(loaded.provenance, extra, COMMAND_LINE)
    loaded.cfg = _merge(loaded.cfg, extra, COMMAND_LINE)
    return loaded
