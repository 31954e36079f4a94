"""The plugin manager: imports the plugins :mod:`pixengine.discovery` finds, checks their hooks
against :mod:`pixengine.hookspecs`, and collects what they register into a
:class:`~pixengine.registry.Registry`.

Built-in plugins are entry points of the ``pixengine`` distribution itself, so they take the
same path as any third-party package, first. Each plugin is isolated:

* one that fails to import, needs another plugin API, implements an unknown hook, or raises
  while registering is recorded with its error (``pixengine plugins list``) and everything it
  registered is dropped;
* a component or preset whose name is already taken, or whose options are declared wrongly,
  is refused alone and recorded on its plugin; the rest of the plugin loads. Built-ins always
  keep their names; between third-party plugins the one whose entry-point name sorts first
  keeps a name (see :mod:`pixengine.discovery`).

Other plugins, and runs that do not need a broken one, are unaffected.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback
from pathlib import Path
from typing import Any

import pluggy

from . import discovery, hookspecs
from . import presets as preset_data
from .api_version import incompatibility
from .discovery import PLUGINS_ENV, PluginInfo  # noqa: F401 - PLUGINS_ENV is part of this module's API
from .errors import did_you_mean
from .options import declaration_problems
from .presets import PresetEntry
from .registry import ComponentEntry, Registry

ENTRY_POINT_GROUP = discovery.COMPONENTS_GROUP
BUILTIN_DISTRIBUTION = discovery.BUILTIN_DISTRIBUTION

_registry: Registry | None = None
_code_plugins: list[tuple[str, Any]] = []


def get_registry() -> Registry:
    """The registry of this process, built on first use."""
    global _registry
    if _registry is None:
        _registry = build_registry()
    return _registry


def reset() -> None:
    """Forget the registry (after installing plugins, or between tests)."""
    global _registry
    _registry = None
    preset_data.reset()


def register(plugin: Any, name: str | None = None) -> None:
    """Add a plugin object (module or instance with hookimpls) from code, e.g. a notebook."""
    _code_plugins.append((name or getattr(plugin, "__name__", repr(plugin)), plugin))
    reset()


def unregister(name: str) -> None:
    _code_plugins[:] = [(n, p) for n, p in _code_plugins if n != name]
    reset()


def _registration_hooks() -> dict[str, type]:
    """The registration hooks that take component classes, and the base each must derive from."""
    from .components import Augmentation, Loss, Model, Parameterization

    return {
        "register_parameterizations": Parameterization,
        "register_losses": Loss,
        "register_augmentations": Augmentation,
        "register_models": Model,
    }


def _error_text(exc: BaseException) -> str:
    """The exception and the plugin-side frame it came from, in one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _fail(info: PluginInfo, message: str, exc: BaseException | None = None) -> None:
    info.error = message
    if exc is not None:
        info.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _discover(registry: Registry) -> list[tuple[PluginInfo, Any]]:
    """(info, loaded plugin object or None) for every component entry point and code plugin."""
    chosen = discovery.selection()
    found = []
    known_names: set[str] = set()
    for entry in discovery.entry_points(ENTRY_POINT_GROUP):
        known_names |= {entry.name, entry.distribution or ""}
        info = registry.plugins.get(entry.name)
        if info is None or info.distribution != entry.distribution:
            info = discovery.plugin_info(entry)
        info.module = entry.entry_point.value
        if not entry.builtin and not chosen.allows(entry.name, entry.distribution):
            info.skipped = True
            _fail(info, chosen.reason())
            found.append((info, None))
            continue
        try:
            obj = entry.entry_point.load()
        except Exception as exc:  # a broken plugin must not break the others
            _fail(info, f"import failed: {_error_text(exc)}", exc)
            obj = None
        found.append((info, obj))
    for info in registry.plugins.values():  # preset packs count as plugins for the selection
        known_names |= {info.name, info.distribution or ""}
    discovery.warn_unknown_names(chosen, known_names)
    for name, obj in _code_plugins:
        found.append((PluginInfo(name=name, source="registered in code", module=getattr(obj, "__name__", None)), obj))
    return found


def _check_hooks(pm: pluggy.PluginManager, name: str) -> str | None:
    """Reject hook implementations whose name matches no hookspec (a misspelt hook)."""
    valid = list(hookspecs.SINCE)
    for caller in pm.get_hookcallers(pm.get_plugin(name)) or []:
        if caller.spec is None:
            return f"implements unknown hook '{caller.name}'; {did_you_mean(caller.name, valid)}"
    return None


def _check_api(obj: Any, info: PluginInfo) -> str | None:
    required = getattr(obj, "PIXENGINE_API", None)
    if required is None:
        return None
    info.api = str(required)
    problem = incompatibility(str(required))
    return f"incompatible: {problem}" if problem else None


def _collect(impl_function, argnames, hook: str, base: type, plugin: str) -> list[ComponentEntry]:
    collected: list[ComponentEntry] = []

    def register(cls: Any, name: str | None = None) -> None:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"{hook} got {cls!r}, which is not a subclass of pixengine.{base.__name__}")
        component_name = name or cls.name
        if not component_name:
            raise TypeError(f"{cls.__name__} has no 'name'")
        collected.append(ComponentEntry(kind=base.kind, name=component_name, cls=cls, plugin=plugin))

    impl_function(**{arg: register for arg in argnames})
    return collected


def _collect_presets(impl_function, argnames, plugin: str) -> list[PresetEntry]:
    collected: list[PresetEntry] = []

    def register(path: Any, name: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            if name:
                raise TypeError("register_presets: a name can only be given for a single file")
            collected.extend(PresetEntry(p.stem, p, plugin) for p in preset_data.preset_files(path))
        elif path.is_file():
            collected.append(PresetEntry(name or path.stem, path, plugin))
        else:
            raise FileNotFoundError(f"register_presets: {path} does not exist")

    impl_function(**{arg: register for arg in argnames})
    return collected


def _collect_settings(impl_function, argnames, plugin: str) -> list[tuple[str, type, str]]:
    collected: list[tuple[str, type, str]] = []

    def register(section: str, options: type) -> None:
        if not isinstance(section, str) or not section.isidentifier():
            raise TypeError(f"register_settings: section {section!r} is not a valid config key")
        collected.append((section, options, plugin))

    impl_function(**{arg: register for arg in argnames})
    return collected


def build_registry() -> Registry:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    registry.manager = pm
    data = preset_data.index()
    registry.presets = dict(data.presets)
    registry.plugins = {name: dataclasses.replace(info, presets=list(info.presets), refused=list(info.refused))
                        for name, info in data.plugins.items()}

    for info, obj in _discover(registry):
        existing = registry.plugins.get(info.name)
        if existing is not None and existing is not info and existing.distribution != info.distribution:
            _fail(info, f"another plugin is already named '{info.name}' ({existing.origin()})")
            info.name = f"{info.name} ({info.origin()})"
        registry.plugins[info.name] = info
        if obj is None:
            continue
        problem = _check_api(obj, info)
        if problem is None:
            try:
                pm.register(obj, name=info.name)
            except Exception as exc:
                _fail(info, f"rejected by pluggy: {_error_text(exc)}", exc)
                continue
            problem = _check_hooks(pm, info.name) or _register_components(pm, info, registry)
            if problem is not None:
                pm.unregister(name=info.name)
        if problem is not None:
            if info.error is None:
                _fail(info, problem)
            continue
        info.hooks = sorted(
            caller.name for caller in pm.get_hookcallers(obj) or [] if caller.name.startswith("on_")
        )
    return registry


def _register_components(pm: pluggy.PluginManager, info: PluginInfo, registry: Registry) -> str | None:
    """Run one plugin's registration hooks. Any hook raising fails the plugin as a whole (and
    nothing it registered is kept); a component whose name is taken or whose options are
    declared wrongly is refused alone."""
    bases = _registration_hooks()
    components: list[ComponentEntry] = []
    presets: list[PresetEntry] = []
    settings: list[tuple[str, type, str]] = []
    for impl in _impls_of(pm, info.name, [*bases, "register_presets", "register_settings"]):
        hook = impl.hook
        try:
            if hook in bases:
                components += _collect(impl.function, impl.argnames, hook, bases[hook], info.name)
            elif hook == "register_presets":
                presets += _collect_presets(impl.function, impl.argnames, info.name)
            else:
                settings += _collect_settings(impl.function, impl.argnames, info.name)
        except Exception as exc:
            info.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return f"{hook} raised {_error_text(exc)}"
    for entry in components:
        refusal = _component_refusal(entry, registry)
        if refusal:
            info.refused.append(refusal)
            continue
        registry.components[entry.kind][entry.name] = entry
        info.components.append((entry.kind, entry.name))
    for preset in presets:
        owner = registry.plugins[info.name]
        existing = registry.presets.get(preset.name)
        if existing is not None:
            owner.refused.append(f"preset '{preset.name}' refused: the name belongs to plugin '{existing.plugin}'")
            continue
        registry.presets[preset.name] = preset
        info.presets.append(preset.name)
    for section, options, plugin in settings:
        refusal = _settings_refusal(section, options, registry)
        if refusal:
            info.refused.append(refusal)
            continue
        registry.settings[section] = (options, plugin)
    return None


def _component_refusal(entry: ComponentEntry, registry: Registry) -> str | None:
    what = f"{entry.kind} '{entry.name}'"
    existing = registry.components[entry.kind].get(entry.name)
    if existing is not None:
        owner = registry.plugins.get(existing.plugin)
        builtin = " (built-in)" if owner is not None and owner.builtin else ""
        return f"{what} refused: the name belongs to plugin '{existing.plugin}'{builtin}; rename it"
    problems = declaration_problems(entry.cls.Options)
    if problems:
        return f"{what} refused: its Options are declared wrongly: " + "; ".join(problems)
    return None


def _settings_refusal(section: str, options: type, registry: Registry) -> str | None:
    from .schema import RunSettings

    if section in {f.name for f in dataclasses.fields(RunSettings)}:
        return f"settings section '{section}' refused: it is a core key"
    if section in registry.settings:
        return f"settings section '{section}' refused: it belongs to plugin '{registry.settings[section][1]}'"
    problems = declaration_problems(options)
    required = [f.name for f in dataclasses.fields(options) if not _has_default(f)] if not problems else []
    if required:
        problems = [f"option '{name}' has no default (run settings must all have one)" for name in required]
    if problems:
        return f"settings section '{section}' refused: " + "; ".join(problems)
    return None


def _has_default(f: dataclasses.Field) -> bool:
    from .options import REQUIRED

    return (f.default is not dataclasses.MISSING and f.default != REQUIRED) or f.default_factory is not dataclasses.MISSING


class _Impl:
    def __init__(self, hook: str, hookimpl) -> None:
        self.hook = hook
        self.function = hookimpl.function
        self.argnames = hookimpl.argnames


def _impls_of(pm: pluggy.PluginManager, plugin_name: str, hooks: list[str]) -> list[_Impl]:
    impls = []
    for hook in hooks:
        for hookimpl in getattr(pm.hook, hook).get_hookimpls():
            if hookimpl.plugin_name == plugin_name:
                impls.append(_Impl(hook, hookimpl))
    return impls


def warn_about_failed_plugins(registry: Registry) -> None:
    """One line when a run starts while a plugin failed or lost a part (skipped ones are the
    user's choice and stay quiet)."""
    troubled = registry.failed_plugins(include_skipped=False)
    if troubled:
        names = ", ".join(f"'{p.name}'" for p in troubled)
        print(f"warning: plugin(s) {names} failed to load or lost parts; see `pixengine plugins list`", file=sys.stderr)
