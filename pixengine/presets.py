"""The registered presets, found as data.

A preset pack (and pixengine's own ``presets/`` folder) is a package announced in the
``pixengine.presets`` entry-point group; every ``*.yaml`` in its folder is a preset named after
the file. The folder is located from the package's import spec, so nothing is imported and no
plugin code runs: listing, showing and reading presets needs neither torch nor plugins.

Names are first come, first served in :func:`pixengine.discovery.entry_points` order: the
built-in presets always keep theirs; a third-party preset whose name is taken is refused and
reported on its plugin (``pixengine plugins list``), the rest of the pack loads.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from . import discovery
from .discovery import PluginInfo


@dataclass(frozen=True)
class PresetEntry:
    name: str
    path: Path
    #: The plugin (entry-point name) that provides it.
    plugin: str


@dataclass
class PresetIndex:
    presets: dict[str, PresetEntry] = field(default_factory=dict)
    #: Every plugin announced in the presets group, with its presets and what was refused.
    plugins: dict[str, PluginInfo] = field(default_factory=dict)

    def add(self, entry: PresetEntry, owner: PluginInfo) -> None:
        """Register ``entry`` unless its name is taken (then the refusal is recorded)."""
        existing = self.presets.get(entry.name)
        if existing is not None:
            owner.refused.append(
                f"preset '{entry.name}' refused: the name belongs to plugin '{existing.plugin}'"
                + (" (built-in)" if self._builtin(existing) else "")
            )
            return
        self.presets[entry.name] = entry
        owner.presets.append(entry.name)

    def _builtin(self, entry: PresetEntry) -> bool:
        info = self.plugins.get(entry.plugin)
        return info is not None and info.builtin


def package_folder(package: str) -> Path | None:
    """The folder of ``package`` without importing it (None when it is not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def preset_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.yaml") if p.is_file())


def discover() -> PresetIndex:
    """Every preset announced through the ``pixengine.presets`` group (no import, no torch)."""
    index = PresetIndex()
    chosen = discovery.selection()
    for found in discovery.entry_points(discovery.PRESETS_GROUP):
        info = discovery.plugin_info(found)
        info.presets_package = found.entry_point.value
        index.plugins[info.name] = info
        if not found.builtin and not chosen.allows(found.name, found.distribution):
            info.skipped, info.error = True, chosen.reason()
            continue
        folder = package_folder(found.entry_point.value)
        if folder is None:
            info.error = f"preset package '{found.entry_point.value}' is not installed or is not a package folder"
            continue
        for path in preset_files(folder):
            index.add(PresetEntry(path.stem, path, info.name), info)
    return index


_index: PresetIndex | None = None


def index() -> PresetIndex:
    """The data presets of this process, discovered on first use."""
    global _index
    if _index is None:
        _index = discover()
    return _index


def reset() -> None:
    global _index
    _index = None
