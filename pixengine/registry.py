"""What the plugins registered: components by kind and name, presets by name, and each
plugin's origin and health. Built by :mod:`pixengine.plugins`; read by config validation,
the engine and the CLI. Imports no torch: the presets part is filled without plugin code."""

from __future__ import annotations

from dataclasses import dataclass

from .discovery import PluginInfo
from .presets import PresetEntry

__all__ = ["KINDS", "ComponentEntry", "PluginInfo", "PresetEntry", "Registry"]

#: The component kinds, in the order a run builds them.
KINDS = ("parameterization", "loss", "augmentation", "model")


@dataclass(frozen=True)
class ComponentEntry:
    kind: str
    name: str
    cls: type
    plugin: str


class Registry:
    def __init__(self) -> None:
        self.components: dict[str, dict[str, ComponentEntry]] = {kind: {} for kind in KINDS}
        self.presets: dict[str, PresetEntry] = {}
        self.plugins: dict[str, PluginInfo] = {}
        #: Run-level settings sections plugins declared: section -> (options dataclass, plugin).
        self.settings: dict[str, tuple[type, str]] = {}
        #: The pluggy manager, for lifecycle hooks (set by pixengine.plugins).
        self.manager = None

    def get(self, kind: str, name: str) -> ComponentEntry | None:
        return self.components[kind].get(name)

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def find(self, name: str) -> list[ComponentEntry]:
        """Components of any kind with this name (``kind:name`` narrows to one kind)."""
        kind, _, bare = name.rpartition(":")
        kinds = [kind] if kind else list(KINDS)
        return [self.components[k][bare] for k in kinds if k in self.components and bare in self.components[k]]

    def failed_plugins(self, include_skipped: bool = True) -> list[PluginInfo]:
        """Plugins not in use (failed, or skipped by ``PIXENGINE_PLUGINS``) or that lost a part."""
        return [
            p for p in self.plugins.values() if (p.error is not None and (include_skipped or not p.skipped)) or p.refused
        ]

    def plugin_of(self, entry: ComponentEntry) -> PluginInfo:
        return self.plugins[entry.plugin]
