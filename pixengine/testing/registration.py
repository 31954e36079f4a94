"""Registering code plugins in tests: a module with the hook implementations that register the
given components, settings and lifecycle hooks, added for a test and removed after it."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from typing import Any

_HOOK_OF_KIND = {
    "parameterization": "register_parameterizations",
    "loss": "register_losses",
    "augmentation": "register_augmentations",
    "model": "register_models",
}


def make_plugin(
    *components: type,
    name: str = "test_plugin",
    settings: dict[str, type] | None = None,
    hooks: dict[str, Callable[..., Any]] | None = None,
    api: str | None = None,
) -> types.ModuleType:
    """A plugin module that registers ``components`` (each under the hook of its kind), the
    run-level ``settings`` sections, and lifecycle ``hooks`` (``{"on_step": fn}``); ``api``
    sets its ``PIXENGINE_API``. Register it with :func:`registered` or ``pixengine.plugins.register``."""
    import pixengine

    module = types.ModuleType(name)
    by_hook: dict[str, list[type]] = {}
    for component in components:
        kind = getattr(component, "kind", "")
        if kind not in _HOOK_OF_KIND:
            raise TypeError(f"{component!r} is not a pixengine component class (Parameterization, Loss, Augmentation or Model)")
        by_hook.setdefault(_HOOK_OF_KIND[kind], []).append(component)
    for hook, classes in by_hook.items():
        setattr(module, hook, pixengine.hookimpl(_registering(classes)))
    if settings:
        setattr(module, "register_settings", pixengine.hookimpl(_registering_settings(settings)))
    for hook, function in (hooks or {}).items():
        setattr(module, hook, pixengine.hookimpl(function))
    if api is not None:
        module.PIXENGINE_API = api
    return module


def _registering(classes: list[type]):
    def register_components(register):
        for cls in classes:
            register(cls)

    return register_components


def _registering_settings(settings: dict[str, type]):
    def register_settings(register):
        for section, options in settings.items():
            register(section, options)

    return register_settings


@contextlib.contextmanager
def registered(module: Any, name: str | None = None) -> Iterator[Any]:
    """Register a plugin object for the duration of a ``with`` block; yields its PluginInfo."""
    from pixengine import plugins

    name = name or getattr(module, "__name__", "test_plugin")
    plugins.register(module, name)
    try:
        yield plugins.get_registry().plugins[name]
    finally:
        plugins.unregister(name)
