"""Check a loaded config against the run schema and the options each component declares, and
turn it into a :class:`RunSpec`: typed settings plus one validated options object per component.

Nothing heavy happens here (no model is loaded), so every mistake in a preset is reported
before the run starts, with the file that set the key, the key path and what would be valid.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

from . import interpolation
from .config import LoadedConfig
from .errors import ConfigError, did_you_mean, omegaconf_message
from .options import check_constraints, describe
from .prompts import parse_prompts
from .seeds import check_seed
from .registry import ComponentEntry, Registry
from .schema import COMPONENT_SECTIONS, RunSettings


@dataclass
class ComponentSpec:
    """One component of a run: its label, config key, registry entry and validated options."""

    label: str
    key: str
    entry: ComponentEntry
    options: Any


@dataclass
class RunSpec:
    settings: RunSettings
    #: The fully resolved config: what gets written into outputs and re-run by --from.
    config: DictConfig
    parameterization: ComponentSpec
    models: list[ComponentSpec] = field(default_factory=list)
    augmentations: list[ComponentSpec] = field(default_factory=list)
    losses: list[ComponentSpec] = field(default_factory=list)
    loaded: LoadedConfig | None = None
    #: The run's ``prompt``, parsed (pixengine.prompts); what a loss with no prompt of its own uses.
    prompts: tuple = ()
    #: The validated settings sections plugins declared (register_settings), by section.
    plugin_settings: dict[str, Any] = field(default_factory=dict)
    #: Where the config came from (a preset, a PNG, a run folder, a bundle); set by resolve().
    recipe: Any = None

    def components(self) -> list[ComponentSpec]:
        return [self.parameterization, *self.models, *self.augmentations, *self.losses]

    def plugin_versions(self, registry: Registry) -> dict[str, dict[str, str | None]]:
        """The plugins whose components this run uses, with their distribution and version."""
        versions = {}
        for spec in self.components():
            info = registry.plugin_of(spec.entry)
            versions[info.name] = {"distribution": info.distribution, "version": info.version}
        return dict(sorted(versions.items()))


def _omegaconf_problem(exc: OmegaConfBaseException) -> tuple[str | None, str]:
    key = getattr(exc, "full_key", None) or None
    return key, omegaconf_message(exc)


def _resolved(loaded: LoadedConfig) -> dict:
    """The loaded config with its ``${...}`` references resolved (only references to its own
    keys can be there: :mod:`pixengine.interpolation` refused the rest when it was read)."""
    try:
        # Escaped again: once resolved, text is final (a literal "${...}" must stay text).
        return interpolation.escape(OmegaConf.to_container(loaded.cfg, resolve=True, throw_on_missing=True))
    except OmegaConfBaseException as exc:
        key, message = _omegaconf_problem(exc)
        raise ConfigError(f"cannot resolve: {message}", key=key, source=loaded.source_of(key or "")) from None


def _validate_settings(loaded: LoadedConfig, resolved: dict, sections: dict[str, tuple[type, str]]) -> DictConfig:
    """The core settings (every key but the plugins' sections), checked against RunSettings."""
    schema = OmegaConf.structured(RunSettings)
    core = {k: v for k, v in resolved.items() if k not in sections}
    shape = _shape_problem(RunSettings, core, "")
    if shape is not None:
        key, message = shape
        raise ConfigError(message, key=key, source=loaded.source_of(key))
    try:
        merged = OmegaConf.merge(schema, core)
    except ConfigKeyError as exc:
        key, _ = _omegaconf_problem(exc)
        leaf = (key or "").split(".")[-1]
        # omegaconf names the dataclass that lacks the key (RunSettings or a nested section).
        owner = exc.object_type if dataclasses.is_dataclass(exc.object_type) else RunSettings
        valid = [f.name for f in dataclasses.fields(owner)] + (list(sections) if owner is RunSettings else [])
        raise ConfigError(f"unknown key '{leaf}'; {did_you_mean(leaf, valid)}", key=key, source=loaded.source_of(key or "")) from None
    except OmegaConfBaseException as exc:
        key, message = _omegaconf_problem(exc)
        raise ConfigError(message, key=key, source=loaded.source_of(key or "")) from None
    cfg = OmegaConf.create(OmegaConf.to_container(merged))
    problems = _constraint_problems(OmegaConf.to_object(OmegaConf.merge(schema, cfg)), "")
    if problems:
        key, message = problems[0]
        raise ConfigError(message, key=key, source=loaded.source_of(key))
    return cfg


def _shape_problem(cls: type, values: dict, prefix: str) -> tuple[str, str] | None:
    """(key, message) where a value is not the kind its field holds: a list where a mapping of
    settings belongs or the reverse (omegaconf would fail with an internal error)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in values or values[f.name] is None:
            continue
        value, annotation, key = values[f.name], hints.get(f.name), f"{prefix}{f.name}"
        origin = typing.get_origin(annotation)
        wants = "list" if origin is list else "mapping" if origin is dict or dataclasses.is_dataclass(annotation) else None
        if wants == "list" and not isinstance(value, list):
            return key, f"expected a list, got {value!r}"
        if wants == "mapping" and not isinstance(value, dict):
            return key, f"expected a mapping of settings, got {value!r}"
        if dataclasses.is_dataclass(annotation):
            found = _shape_problem(annotation, value, f"{key}.")
            if found:
                return found
    return None


def _plugin_settings(loaded: LoadedConfig, resolved: dict, sections: dict[str, tuple[type, str]]) -> dict[str, Any]:
    """Each plugin-declared section (``register_settings``) as its validated dataclass."""
    settings = {}
    for section, (options_cls, plugin) in sections.items():
        given = resolved.get(section)
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise ConfigError(
                f"expected a mapping of settings, got {given!r}", key=section, source=loaded.source_of(section)
            )
        settings[section] = _options_object(options_cls, given, section, f"settings of plugin '{plugin}'", loaded)
    return settings


def _constraint_problems(obj: Any, prefix: str) -> list[tuple[str, str]]:
    """choices/min/max problems of a dataclass instance and of the dataclasses inside it."""
    problems = [(f"{prefix}{name}", message) for name, message in check_constraints(type(obj), obj)]
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else [(None, value)]
        for child_key, child in children:
            if dataclasses.is_dataclass(child):
                path = f"{prefix}{f.name}" if child_key is None else f"{prefix}{f.name}.{child_key}"
                problems += _constraint_problems(child, f"{path}.")
    return problems


def _component(
    kind: str, label: str, key: str, section: Any, registry: Registry, loaded: LoadedConfig
) -> ComponentSpec:
    if not isinstance(section, (dict, DictConfig)):
        raise ConfigError(
            f"expected a mapping {{type: NAME, ...options}}, got {section!r}", key=key, source=loaded.source_of(key)
        )
    # Plain data with its text still escaped: reading a DictConfig's values would resolve it.
    section = OmegaConf.to_container(section, resolve=False) if isinstance(section, DictConfig) else dict(section)
    implied = "type" not in section
    type_name = section.pop("type", label)
    type_key = key if implied else f"{key}.type"
    entry = registry.get(kind, str(type_name))
    if entry is None:
        hint = did_you_mean(str(type_name), registry.names(kind))
        if implied:
            hint = f"no 'type' is set, so the label is taken as the type; {hint}"
        failed = registry.failed_plugins()
        if failed:
            hint += "\nThese plugins failed to load and may provide it:\n" + "\n".join(
                f"  - {p.name}: {p.error or '; '.join(p.refused)}" for p in failed
            )
        raise ConfigError(f"unknown {kind} '{type_name}'; {hint}", key=type_key, source=loaded.source_of(type_key))
    where = f"{kind} '{entry.name}' (plugin '{entry.plugin}')"
    options = _options_object(entry.cls.Options, section, key, where, loaded)
    return ComponentSpec(label=label, key=key, entry=entry, options=options)


def _options_object(options_cls: type, section: dict, key: str, where: str, loaded: LoadedConfig) -> Any:
    """``section`` checked against the ``options_cls`` dataclass, as an instance of it.

    1. Names and types (omegaconf), 2. each option's own choices and bounds, 3. required
    options and rules across options (the dataclass's __post_init__), in that order, so each
    problem is reported at the most precise key."""
    schema = OmegaConf.structured(options_cls)
    try:
        merged = OmegaConf.merge(schema, section)
    except ConfigKeyError as exc:
        sub, _ = _omegaconf_problem(exc)
        full = f"{key}.{sub}"
        valid = [f.name for f in dataclasses.fields(options_cls)]
        raise ConfigError(
            f"unknown option '{sub}' for {where}; {did_you_mean(str(sub), valid)}", key=full, source=loaded.source_of(full)
        ) from None
    except OmegaConfBaseException as exc:
        sub, message = _omegaconf_problem(exc)
        full = f"{key}.{sub}" if sub else key
        types = {i.name: i.type for i in describe(options_cls)}
        expected = f" (option '{sub}' of {where} is {types[sub]})" if sub in types else ""
        raise ConfigError(f"{message}{expected}", key=full, source=loaded.source_of(full)) from None
    for name, message in check_constraints(options_cls, OmegaConf.to_container(merged)):
        full = f"{key}.{name}"
        raise ConfigError(f"{message} (option of {where})", key=full, source=loaded.source_of(full))
    try:
        return OmegaConf.to_object(merged)
    except MissingMandatoryValue as exc:
        sub, _ = _omegaconf_problem(exc)
        full = f"{key}.{sub}"
        raise ConfigError(f"required option '{sub}' of {where} is not set", key=full, source=loaded.source_of(key)) from None
    except ConfigError as exc:  # __post_init__ naming the option at fault (key relative to the section)
        full = f"{key}.{exc.key}" if exc.key else key
        raise ConfigError(f"{where}: {exc.detail}", key=full, source=loaded.source_of(full)) from None
    except (ValueError, TypeError) as exc:  # raised by the Options' __post_init__
        raise ConfigError(f"{where}: {exc}", key=key, source=loaded.source_of(key)) from None


def optimizer_names() -> list[str]:
    """The optimisers a config may name: torch.optim's classes and pixengine's own."""
    from .optim import optimizer_names as names

    return names()


def validate(loaded: LoadedConfig, registry: Registry) -> RunSpec:
    resolved_all = _resolved(loaded)
    cfg = _validate_settings(loaded, resolved_all, registry.settings)
    plugin_settings = _plugin_settings(loaded, resolved_all, registry.settings)
    cfg.seed = check_seed(cfg.seed, loaded.source_of("seed"))
    try:  # the run's prompt, once, here: an error names its own source (the command line, say)
        prompts = tuple(parse_prompts(str(cfg.prompt or "")))
    except ConfigError as exc:
        raise ConfigError(exc.detail, key="prompt", source=loaded.source_of("prompt")) from None
    if cfg.optimizer.type not in optimizer_names():
        raise ConfigError(
            f"unknown optimizer '{cfg.optimizer.type}'; {did_you_mean(cfg.optimizer.type, optimizer_names())}",
            key="optimizer.type",
            source=loaded.source_of("optimizer.type"),
        )

    specs: dict[str, Any] = {}
    for section_key, (kind, labelled) in COMPONENT_SECTIONS.items():
        section = cfg[section_key]
        if not labelled:
            if section is None:
                raise ConfigError(f"a run needs a {kind}", key=section_key, source=loaded.source_of(section_key))
            specs[section_key] = _component(kind, str(section.get("type", "")), section_key, section, registry, loaded)
            continue
        if section is None:
            section = {}
        if not isinstance(section, (dict, DictConfig)):
            raise ConfigError(f"expected a mapping of labels to {kind} sections", key=section_key, source=loaded.source_of(section_key))
        specs[section_key] = [
            _component(kind, str(label), f"{section_key}.{label}", body, registry, loaded)
            for label, body in section.items()
            if body is not None  # null disables an inherited component
        ]

    # Write every component's full options back so the saved config is complete.
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["parameterization"] = _section_of(specs["parameterization"])
    for section_key in ("models", "augmentations", "losses"):
        resolved[section_key] = {spec.label: _section_of(spec) for spec in specs[section_key]}
    resolved.update({section: dataclasses.asdict(value) for section, value in plugin_settings.items()})
    # The resolved text is final: escaped, so text that looks like ${...} stays text.
    config = OmegaConf.create(interpolation.escape(resolved))
    core = {k: v for k, v in resolved.items() if k not in plugin_settings}
    settings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RunSettings), interpolation.escape(core)))
    spec = RunSpec(settings=settings, config=config, loaded=loaded, plugin_settings=plugin_settings, prompts=prompts, **specs)
    _check_model_labels(spec, loaded)
    _check_grow(spec, loaded)
    _check_limits(spec, loaded)
    return spec


def _check_limits(spec: RunSpec, loaded: LoadedConfig) -> None:
    """Sizes and step counts beyond ``limits`` stop here, naming the key and the limit."""
    settings, limits = spec.settings, spec.settings.limits
    sides = [("width", settings.width), ("height", settings.height)]
    sides += [(f"grow[{i}].{side}", getattr(g, side)) for i, g in enumerate(settings.grow) for side in ("width", "height")]
    for key, value in sides:
        if value > limits.max_side:
            raise ConfigError(
                f"{value} pixels is more than limits.max_side ({limits.max_side}); if you mean it, set limits.max_side={value}",
                key=key,
                source=loaded.source_of(key.split("[")[0]),
            )
    if settings.steps > limits.max_steps:
        raise ConfigError(
            f"{settings.steps} steps is more than limits.max_steps ({limits.max_steps}); if you mean it, set "
            f"limits.max_steps={settings.steps}",
            key="steps",
            source=loaded.source_of("steps"),
        )


def _section_of(spec: ComponentSpec) -> dict:
    return {"type": spec.entry.name, **dataclasses.asdict(spec.options)}


def _check_model_labels(spec: RunSpec, loaded: LoadedConfig) -> None:
    """An option named ``model`` or ``models`` must name labels of the ``models`` section."""
    labels = [m.label for m in spec.models]
    for component in spec.components():
        for name in ("model", "models"):
            value = getattr(component.options, name, None)
            if value is None or component.entry.kind == "model":
                continue
            refs = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple, dict)) else []
            for ref in refs:
                if ref not in labels:
                    key = f"{component.key}.{name}"
                    raise ConfigError(
                        f"no model labelled '{ref}' in the models section; {did_you_mean(str(ref), labels)}",
                        key=key,
                        source=loaded.source_of(key),
                    )


def _check_grow(spec: RunSpec, loaded: LoadedConfig) -> None:
    if spec.settings.grow and not spec.parameterization.entry.cls.supports_resize:
        raise ConfigError(
            f"parameterization '{spec.parameterization.entry.name}' cannot change resolution; remove 'grow'",
            key="grow",
            source=loaded.source_of("grow"),
        )
