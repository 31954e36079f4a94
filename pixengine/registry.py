"""What the plugins registered: components by kind and name, presets by name, and each
plugin's origin and health. Built by :mod:`pixengine.plugins`; read by config validation,
the engine and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .components import KINDS


@dataclass
class PluginInfo:
    name: str
    #: "builtin", "entry point", or "registered in code".
    source: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    components: list[tuple[str, str]] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    #: Lifecycle hooks the plugin implements (on_run_start, on_step, on_run_end).
    hooks: list[str] = field(default_factory=list)
    #: Why the plugin is not in use: an import/registration error, or a skip reason.
    error: str | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.skipped

    def origin(self) -> str:
        if self.distribution:
            return f"{self.source}: {self.distribution} {self.version or ''}".rstrip()
        return self.source


@dataclass(frozen=True)
class ComponentEntry:
    kind: str
    name: str
    cls: type
    plugin: str


@dataclass(frozen=True)
class PresetEntry:
    name: str
    path: Path
    plugin: str


class Registry:
    def __init__(self) -> None:
        self.components: dict[str, dict[str, ComponentEntry]] = {kind: {} for kind in KINDS}
        self.presets: dict[str, PresetEntry] = {}
        self.plugins: dict[str, PluginInfo] = {}
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

    def failed_plugins(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.error is not None]

    def plugin_of(self, entry: ComponentEntry) -> PluginInfo:
        return self.plugins[entry.plugin]
