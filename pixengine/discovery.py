"""Which plugins are installed and which of them load, read from package metadata alone.

Two entry-point groups announce plugins:

* ``pixengine``: a module with hook implementations (components, lifecycle hooks). Importing it
  runs its code, so :mod:`pixengine.plugins` does that only when a registry is needed.
* ``pixengine.presets``: a package whose folder holds YAML presets (and the assets they use).
  Presets are data: they are found without importing anything (see :mod:`pixengine.presets`).

The built-ins are entry points of the ``pixengine`` distribution itself and always come first,
so they always load and keep their names. Third-party plugins follow in the order of their
entry-point names (then distribution names), which decides, deterministically, who keeps a
name two third-party plugins both register.

``PIXENGINE_PLUGINS`` chooses the third-party plugins that load (built-ins always do):

* unset: all of them;
* empty: none;
* ``a,b``: only those (entry-point or distribution names);
* ``-a,-b``: all but those.

This module imports no plugin code and no torch, so commands that only read presets stay fast.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import sys
from dataclasses import dataclass, field

COMPONENTS_GROUP = "pixengine"
PRESETS_GROUP = "pixengine.presets"
BUILTIN_DISTRIBUTION = "pixengine"
PLUGINS_ENV = "PIXENGINE_PLUGINS"


@dataclass
class PluginInfo:
    """A plugin's origin and health, as ``pixengine plugins list`` shows it."""

    name: str
    #: "builtin", "entry point", or "registered in code".
    source: str
    distribution: str | None = None
    version: str | None = None
    #: The module (``pixengine`` group) or preset package (``pixengine.presets``).
    module: str | None = None
    presets_package: str | None = None
    components: list[tuple[str, str]] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    #: Lifecycle hooks the plugin implements (on_run_start, on_step, on_run_end).
    hooks: list[str] = field(default_factory=list)
    #: Parts of the plugin that were refused while the rest loaded: a name another plugin
    #: already holds, a component with a bad option declaration.
    refused: list[str] = field(default_factory=list)
    #: Why the plugin as a whole is not in use: an import/registration error.
    error: str | None = None
    #: The traceback of ``error``, shown by ``--debug``.
    traceback: str | None = None
    #: The plugin API version the plugin declares it needs (``PIXENGINE_API``), if any.
    api: str | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.skipped

    @property
    def builtin(self) -> bool:
        return self.source == "builtin"

    def origin(self) -> str:
        if self.distribution:
            return f"{self.source}: {self.distribution} {self.version or ''}".rstrip()
        return self.source


@dataclass(frozen=True)
class Selection:
    """The third-party plugins ``PIXENGINE_PLUGINS`` lets load."""

    #: None: every plugin; otherwise only these names.
    only: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()

    @property
    def names(self) -> set[str]:
        return set(self.only or ()) | set(self.excluded)

    def allows(self, *names: str | None) -> bool:
        given = {n for n in names if n}
        if given & self.excluded:
            return False
        return self.only is None or bool(given & self.only)

    def reason(self) -> str:
        return f"not loaded: {PLUGINS_ENV}={os.environ.get(PLUGINS_ENV, '')!r} " + (
            "excludes it" if self.only is None else "does not list it"
        )


def selection() -> Selection:
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return Selection()
    parts = [part.strip() for part in value.split(",") if part.strip()]
    excluded = frozenset(p[1:].strip() for p in parts if p.startswith("-"))
    included = frozenset(p for p in parts if not p.startswith("-"))
    if excluded and not included:
        return Selection(only=None, excluded=excluded)
    return Selection(only=included, excluded=excluded)


@dataclass(frozen=True)
class Found:
    """One entry point of one of the two groups."""

    entry_point: metadata.EntryPoint
    distribution: str | None
    version: str | None

    @property
    def builtin(self) -> bool:
        return (self.distribution or "").lower() == BUILTIN_DISTRIBUTION

    @property
    def name(self) -> str:
        return self.entry_point.name


def entry_points(group: str) -> list[Found]:
    """The group's entry points: built-ins first, then by entry-point and distribution name;
    an entry point seen twice (a distribution on ``sys.path`` twice) once."""
    found, seen = [], set()
    for ep in metadata.entry_points(group=group):
        dist = ep.dist.name if ep.dist else None
        key = (ep.name, dist)
        if key in seen:
            continue
        seen.add(key)
        found.append(Found(ep, dist, ep.dist.version if ep.dist else None))
    return sorted(found, key=lambda f: (not f.builtin, f.name, f.distribution or ""))


def plugin_info(found: Found) -> PluginInfo:
    return PluginInfo(
        name=found.name,
        source="builtin" if found.builtin else "entry point",
        distribution=found.distribution,
        version=found.version,
    )


def warn_unknown_names(chosen: Selection, known: set[str]) -> list[str]:
    """Names in ``PIXENGINE_PLUGINS`` that match no installed plugin (warned once each)."""
    unknown = sorted(chosen.names - known)
    for name in unknown:
        if name not in _warned:
            _warned.add(name)
            print(f"warning: {PLUGINS_ENV} names '{name}', which no installed plugin is called", file=sys.stderr)
    return unknown


_warned: set[str] = set()
