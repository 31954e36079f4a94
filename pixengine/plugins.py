"""The plugin manager: finds plugins through the ``pixengine`` entry-point group, checks their
hooks against :mod:`pixengine.hookspecs`, and collects what they register into a
:class:`~pixengine.registry.Registry`.

Built-in plugins are declared as entry points of the ``pixengine`` distribution itself, so they
take the same path as any third-party package. Each plugin is isolated: one that fails to
import, implements an unknown hook, or raises while registering is recorded with its error
(see ``pixengine plugins list``) and everything it registered is dropped; other plugins and
runs that do not need it are unaffected.

Environment:
    ``PIXENGINE_PLUGINS`` unset loads every installed plugin; set to a comma-separated list of
    plugin (entry-point) or distribution names it loads only those besides the built-ins; set
    to an empty string it loads the built-ins only.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as metadata
import os
import traceback
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .components import Augmentation, Loss, Model, Parameterization
from .errors import did_you_mean
from .registry import ComponentEntry, PluginInfo, PresetEntry, Registry

ENTRY_POINT_GROUP = "pixengine"
PLUGINS_ENV = "PIXENGINE_PLUGINS"
BUILTIN_DISTRIBUTION = "pixengine"

# The registration hooks, and the base class each one's components must derive from.
REGISTRATION_HOOKS = {
    "register_parameterizations": Parameterization,
    "register_losses": Loss,
    "register_augmentations": Augmentation,
    "register_models": Model,
}

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


def register(plugin: Any, name: str | None = None) -> None:
    """Add a plugin object (module or instance with hookimpls) from code, e.g. a notebook."""
    _code_plugins.append((name or getattr(plugin, "__name__", repr(plugin)), plugin))
    reset()


def unregister(name: str) -> None:
    _code_plugins[:] = [(n, p) for n, p in _code_plugins if n != name]
    reset()


def _allowed_external() -> set[str] | None:
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _error_text(exc: BaseException) -> str:
    """The exception and the plugin-side frame it came from, in one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _discover() -> list[tuple[PluginInfo, Any]]:
    """(info, loaded plugin object or None) for every entry point and code plugin."""
    allowed = _allowed_external()
    found = []
    seen = set()
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist else None
        if (ep.name, dist) in seen:  # the same distribution on sys.path twice
            continue
        seen.add((ep.name, dist))
        builtin = dist is not None and dist.lower() == BUILTIN_DISTRIBUTION
        info = PluginInfo(
            name=ep.name,
            source="builtin" if builtin else "entry point",
            distribution=dist,
            version=ep.dist.version if ep.dist else None,
            module=ep.value,
        )
        if not builtin and allowed is not None and ep.name not in allowed and dist not in allowed:
            info.skipped = True
            info.error = f"not loaded: {PLUGINS_ENV} does not list it"
            found.append((info, None))
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not break the others
            info.error = f"import failed: {_error_text(exc)}"
            obj = None
        found.append((info, obj))
    for name, obj in _code_plugins:
        found.append((PluginInfo(name=name, source="registered in code", module=getattr(obj, "__name__", None)), obj))
    return found


def _check_hooks(pm: pluggy.PluginManager, name: str) -> str | None:
    """Reject hook implementations whose name matches no hookspec (a misspelt hook)."""
    valid = [n for n in dir(hookspecs) if not n.startswith("_") and hasattr(getattr(hookspecs, n), "pixengine_spec")]
    for caller in pm.get_hookcallers(pm.get_plugin(name)) or []:
        if caller.spec is None:
            return f"implements unknown hook '{caller.name}'; {did_you_mean(caller.name, valid)}"
    return None


def _collect(impl_function, argnames, hook: str, base: type, plugin: str) -> list[ComponentEntry]:
    collected: list[ComponentEntry] = []

    def register(cls: Any, name: str | None = None) -> None:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"{hook} got {cls!r}, which is not a subclass of pixengine.{base.__name__}")
        component_name = name or cls.name
        if not component_name:
            raise TypeError(f"{cls.__name__} has no 'name'")
        if not dataclasses.is_dataclass(cls.Options):
            raise TypeError(f"{cls.__name__}.Options is not a dataclass")
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
            collected.extend(PresetEntry(p.stem, p, plugin) for p in sorted(path.glob("*.yaml")))
        elif path.is_file():
            collected.append(PresetEntry(name or path.stem, path, plugin))
        else:
            raise FileNotFoundError(f"register_presets: {path} does not exist")

    impl_function(**{arg: register for arg in argnames})
    return collected


def build_registry() -> Registry:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    registry.manager = pm

    for info, obj in _discover():
        if info.name in registry.plugins:
            info.error = f"another plugin is already named '{info.name}' ({registry.plugins[info.name].origin()})"
            info.name = f"{info.name} ({info.origin()})"
        registry.plugins[info.name] = info
        if obj is None:
            continue
        try:
            pm.register(obj, name=info.name)
        except Exception as exc:
            info.error = f"rejected by pluggy: {_error_text(exc)}"
            continue
        problem = _check_hooks(pm, info.name)
        if problem is None:
            problem = _register_components(pm, info, registry)
        if problem is not None:
            info.error = problem
            pm.unregister(name=info.name)
            continue
        info.hooks = sorted(
            caller.name for caller in pm.get_hookcallers(obj) or [] if caller.name.startswith("on_")
        )
    return registry


def _register_components(pm: pluggy.PluginManager, info: PluginInfo, registry: Registry) -> str | None:
    """Run one plugin's registration hooks; commit what it registered only if all succeed."""
    components: list[ComponentEntry] = []
    presets: list[PresetEntry] = []
    for impl in _impls_of(pm, info.name):
        hook = impl.hook
        try:
            if hook in REGISTRATION_HOOKS:
                components += _collect(impl.function, impl.argnames, hook, REGISTRATION_HOOKS[hook], info.name)
            elif hook == "register_presets":
                presets += _collect_presets(impl.function, impl.argnames, info.name)
        except Exception as exc:
            return f"{hook} raised {_error_text(exc)}"
    for entry in components:
        existing = registry.components[entry.kind].get(entry.name)
        if existing is not None:
            return f"{entry.kind} '{entry.name}' is already registered by plugin '{existing.plugin}'"
    for preset in presets:
        existing = registry.presets.get(preset.name)
        if existing is not None:
            return f"preset '{preset.name}' is already registered by plugin '{existing.plugin}'"
    for entry in components:
        registry.components[entry.kind][entry.name] = entry
        info.components.append((entry.kind, entry.name))
    for preset in presets:
        registry.presets[preset.name] = preset
        info.presets.append(preset.name)
    return None


class _Impl:
    def __init__(self, hook: str, hookimpl) -> None:
        self.hook = hook
        self.function = hookimpl.function
        self.argnames = hookimpl.argnames


def _impls_of(pm: pluggy.PluginManager, plugin_name: str) -> list[_Impl]:
    impls = []
    for hook in [*REGISTRATION_HOOKS, "register_presets"]:
        for hookimpl in getattr(pm.hook, hook).get_hookimpls():
            if hookimpl.plugin_name == plugin_name:
                impls.append(_Impl(hook, hookimpl))
    return impls
