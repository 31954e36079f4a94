"""What the studio offers to start from: the registered presets (name, one-line description,
a thumbnail where one exists) and the shipped images a file option may use as ``pkg:`` assets.

Listing presets reads their YAML only (no torch, no plugin code); the registry is built once,
behind a lock, because the web server's threads share it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .. import presets as preset_data
from ..config import read_yaml
from ..errors import PixengineError
from ..resources import PACKAGE_SCHEME

#: Where the README's gallery keeps one JPEG per preset (a source checkout; absent from a wheel).
GALLERY = Path(__file__).resolve().parents[2] / "docs" / "gallery"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: At most this many asset images are offered (a preset pack could ship a photo library).
MAX_ASSETS = 500

_registry_lock = threading.Lock()


def registry():
    """pixengine's registry of this process (the server's threads share it)."""
    from ..plugins import get_registry

    with _registry_lock:
        return get_registry()


@dataclass
class PresetInfo:
    name: str
    description: str
    plugin: str
    thumbnail: bool

    def as_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "plugin": self.plugin,
                "thumbnail": f"/api/presets/{self.name}/thumbnail" if self.thumbnail else None}


def presets() -> list[PresetInfo]:
    """Every registered data preset, by name (read as data: no torch, no plugin code)."""
    found = []
    for name, entry in sorted(preset_data.index().presets.items()):
        try:
            description = str(read_yaml(entry.path).get("description", "") or "")
        except PixengineError as exc:
            description = f"(unreadable: {exc})"
        found.append(PresetInfo(name, description, entry.plugin, gallery_image(name) is not None))
    return found


def preset_names() -> set[str]:
    """Names a request may use as a preset: registered ones only, never a path."""
    return set(registry().presets)


def gallery_image(name: str) -> Path | None:
    path = GALLERY / f"{name}.jpg"
    return path if path.is_file() else None


@dataclass(frozen=True)
class Asset:
    ref: str
    path: Path

    @property
    def name(self) -> str:
        return self.ref.rsplit("/", 1)[-1]

    def as_dict(self) -> dict:
        return {"ref": self.ref, "name": self.name, "url": f"/api/assets/{self.ref[len(PACKAGE_SCHEME):]}"}


_assets: dict[str, Asset] | None = None


def assets() -> dict[str, Asset]:
    """The images shipped in preset packages, by ``pkg:`` reference: the only ``pkg:`` files a
    request may name (anything else in an installed package is not a studio asset)."""
    global _assets
    if _assets is None:
        found: dict[str, Asset] = {}
        for info in preset_data.index().plugins.values():
            package = getattr(info, "presets_package", None)
            folder = preset_data.package_folder(package) if package else None
            if folder is None:
                continue
            for path in sorted(folder.rglob("*")):
                if len(found) >= MAX_ASSETS:
                    break
                if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and not path.is_symlink():
                    relative = path.relative_to(folder).as_posix()
                    ref = f"{PACKAGE_SCHEME}{package}/{relative}"
                    found[ref] = Asset(ref, path)
        _assets = found
    return _assets


def reset() -> None:
    global _assets
    _assets = None
