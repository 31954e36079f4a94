"""Presets: find them, load them safely, apply ``extends`` and overrides, and remember which
file (or the command line) set each key so errors can say where to fix them.

A preset is a YAML mapping. ``extends: NAME`` or ``extends: [A, B]`` merges parents first (left
to right, each resolved the same way, to any depth), then the preset itself, then overrides.
A parent is a registered preset name or a YAML file (``.yaml``/``.yml``, the suffix may be
left out), looked up relative to the child file, then to the working directory; nothing else
is read. Setting a component to ``null`` removes an inherited one (``losses: {tv: null}``).

Every text read here may come from a stranger: it is parsed by :mod:`pixengine.safe_yaml`
(bounded, plain data only) and checked by :mod:`pixengine.interpolation` (``${prompt}`` yes,
``${oc.env:...}`` no) before anything else happens.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import interpolation, safe_yaml
from .errors import ConfigError, did_you_mean, omegaconf_message
from .presets import PresetEntry
from .schema import COMPONENT_SECTIONS, RunSettings

#: The parameterization's type when a preset names none.
_DEFAULT_PARAMETERIZATION = RunSettings().parameterization["type"]

COMMAND_LINE = "command line"
PRESET_SUFFIXES = (".yaml", ".yml")
#: A dotted key of an override: labels may hold letters, digits, '_' and '-'.
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$")


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
    return ref.endswith(PRESET_SUFFIXES) or "/" in ref or "\\" in ref


def find_preset(ref: str, presets: Mapping[str, PresetEntry], relative_to: Path | None = None) -> Path:
    """The file a preset reference names: a registered preset, or a YAML file (by path, the
    suffix optional). Nothing that is not a YAML file is ever opened; ConfigError listing the
    known presets otherwise."""
    if not _is_path_like(ref) and ref in presets:
        return presets[ref].path
    names = [ref] if ref.endswith(PRESET_SUFFIXES) else [f"{ref}.yaml", f"{ref}.yml"]
    candidates = [base / name for base in ([relative_to] if relative_to else []) + [Path.cwd()] for name in names]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    if _is_path_like(ref):
        if not ref.endswith(PRESET_SUFFIXES) and Path(ref).exists():
            raise ConfigError(
                f"'{ref}' is not a preset: a preset is a registered name or a .yaml file "
                "(a PNG, run folder or bundle is a recipe: `pixengine run RECIPE`)"
            )
        raise ConfigError(f"preset file '{ref}' does not exist (looked at {', '.join(map(str, candidates))})")
    raise ConfigError(f"unknown preset '{ref}'; {did_you_mean(ref, presets)}")


def read_yaml(path: Path) -> DictConfig:
    """Load one preset file: bounded, plain data, a mapping, no resolver interpolations."""
    data = safe_yaml.load_file(path, what="preset")
    interpolation.check(data, source=str(path))
    return OmegaConf.create(data)


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
    clash = _kind_clash(OmegaConf.to_container(base, resolve=False), OmegaConf.to_container(top, resolve=False))
    if clash is not None:
        key, old, new = clash
        raise ConfigError(
            f"{new} cannot replace the {old} it inherits; give a {old} (or null to remove it)", key=key, source=source
        )
    try:
        return OmegaConf.merge(_drop_retyped(base, top), top)
    except OmegaConfBaseException as exc:
        raise ConfigError(omegaconf_message(exc), key=getattr(exc, "full_key", None), source=source) from None


def _kind(value: Any) -> str | None:
    return "mapping" if isinstance(value, Mapping) else "list" if isinstance(value, list) else None


def _kind_clash(base: Any, top: Any, prefix: str = "") -> tuple[str, str, str] | None:
    """(key, inherited kind, new kind) where ``top`` puts a list over a mapping or the
    reverse, which omegaconf cannot merge (a scalar over either replaces it, as null does)."""
    if not (isinstance(base, Mapping) and isinstance(top, Mapping)):
        return None
    for key, value in top.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        old, new = _kind(base.get(key)), _kind(value)
        if old and new and old != new:
            return path, old, f"a {new}"
        if old == new == "mapping":
            found = _kind_clash(base[key], value, path)
            if found:
                return found
    return None


def _load_chain(path: Path, presets: Mapping[str, PresetEntry], stack: tuple[Path, ...], loaded: LoadedConfig) -> DictConfig:
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
            parent_path = find_preset(parent, presets, relative_to=path.parent)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key="extends", source=str(path)) from None
        merged = _merge(merged, _load_chain(parent_path, presets, (*stack, path), loaded), str(parent_path))
    _record(loaded.provenance, own, str(path))
    loaded.files.append(str(path))
    return _merge(merged, own, str(path))


def parse_overrides(overrides: list[str] | Mapping[str, Any] | None, source: str = COMMAND_LINE) -> DictConfig:
    """``key=value`` strings (values read as YAML, by the same bounded reader as presets) or a
    mapping of dotted keys to values. ``source`` names where they came from, for errors."""
    cfg = OmegaConf.create({})
    if not overrides:
        return cfg
    if isinstance(overrides, Mapping):
        items = [(str(key), _plain(value)) for key, value in overrides.items()]
    else:
        items = [_split_override(text, source) for text in overrides]
    for key, value in items:
        _check_key(key, source)
        safe_yaml.check_plain(value, source, key)
        interpolation.check(value, source=source, prefix=key)
        try:
            OmegaConf.update(cfg, key, value, merge=True, force_add=True)
        except OmegaConfBaseException as exc:
            raise ConfigError(f"cannot apply override: {omegaconf_message(exc)}", key=key, source=source) from None
    return cfg


def _plain(value: Any) -> Any:
    """Python values as YAML would give them: paths as text, tuples as lists."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _check_key(key: str, source: str) -> None:
    if not key:
        raise ConfigError("an override has no key before '='; write key=value, e.g. steps=50", source=source)
    if not _KEY.match(key):
        raise ConfigError(
            f"'{key}' is not a config key: dotted names of letters, digits, '_' and '-', e.g. losses.style.weight",
            source=source,
        )


def _split_override(text: str, source: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key=value", source=source)
    key, raw = (part.strip() for part in text.split("=", 1))
    _check_key(key, source)
    try:
        value = safe_yaml.load(raw, f"{source} ({key})", mapping=False)
    except ConfigError as exc:
        raise ConfigError(
            f"cannot parse override '{text}': its value is not valid YAML ({exc.detail.removeprefix('not valid YAML: ')}); "
            "quote it to pass text",
            key=key,
            source=source,
        ) from None
    if value is None and raw.lower() not in ("null", "~", "none"):
        if raw.startswith("#"):
            problem = f"its value '{raw}' reads as a YAML comment, i.e. nothing; quote it: {key}='\"{raw}\"' (shell) or {key}=\"'{raw}'\""
        else:
            problem = f"it has no value; write {key}=null to unset it, or {key}=\"''\" for empty text"
        raise ConfigError(f"override '{text}': {problem}", key=key, source=source)
    return key, value


def load(
    ref: str | Path | None,
    presets: Mapping[str, PresetEntry],
    overrides: list[str] | Mapping[str, Any] | None = None,
    *,
    base: Mapping[str, Any] | None = None,
    base_source: str | None = None,
) -> LoadedConfig:
    """Load a preset (by name or path) with its parents, then apply ``overrides``.

    With ``base`` (a config read from a PNG, a checkpoint or a bundle) instead of ``ref``, that
    config is the starting point and ``base_source`` names where it came from; it is checked
    like a preset file."""
    if base is not None:
        source = base_source or "config"
        data = dict(base)
        safe_yaml.check_plain(data, source)
        interpolation.check(data, source=source)
        cfg = OmegaConf.create(data)
        loaded = LoadedConfig(cfg=cfg, name=str(cfg.get("preset", "") or ""), files=[source])
        _record(loaded.provenance, cfg, source)
    else:
        ref = str(ref or "default")
        path = find_preset(ref, presets)
        loaded = LoadedConfig(cfg=OmegaConf.create({}), name="")
        loaded.cfg = _load_chain(path, presets, (), loaded)
        loaded.name = ref if not _is_path_like(ref) and ref in presets else path.stem
        loaded.cfg.preset = loaded.name
    return apply_overrides(loaded, overrides)


def apply_overrides(
    loaded: LoadedConfig, overrides: list[str] | Mapping[str, Any] | None, source: str = COMMAND_LINE
) -> LoadedConfig:
    """Merge command-line style overrides on top of a loaded config, recording their source."""
    extra = parse_overrides(overrides, source)
    _record(loaded.provenance, extra, source)
    loaded.cfg = _merge(loaded.cfg, extra, source)
    return loaded
