"""Which files a shared recipe may name.

A recipe from a PNG, a run folder or a bundle may have been written by someone else, who could
point its image options at files of the receiver (``~/.ssh/id_rsa``, a private photo) to have
them copied into outputs the receiver shares next. So each file such a recipe names in an
option declared ``file=...`` must be one of:

* a ``pkg:`` resource of an installed package (shipped assets, preset packs);
* a file inside the bundle the recipe came in;
* a file on this machine whose SHA-256 equals the one the run recorded for it: its content is
  then already known to whoever wrote the recipe, so reading it discloses nothing (this is
  what lets ``--from`` and ``--resume`` of one's own runs find their input images);
* or a file the receiver named themselves, on the command line or in the Python call.

Anything else stops the run before anything is built, naming the key and how to pass a file.
"""

from __future__ import annotations

from pathlib import Path

from ..config import COMMAND_LINE
from ..errors import ConfigError
from ..resources import PACKAGE_SCHEME, resolve_path
from ..options import file_options
from .identity import sha256_of

#: Provenance of keys the person running the recipe set themselves.
RECEIVER_SOURCES = {COMMAND_LINE}


def declared_files(spec) -> list[tuple[str, str]]:
    """(key, path) for every file the run's components name in declared file options."""
    found = []
    for component in spec.components():
        for name, declared in file_options(type(component.options)).items():
            for path in declared.paths_in(getattr(component.options, name)):
                found.append((f"{component.key}.{name}", path))
    return found


def check_shared_paths(spec, recipe) -> None:
    """Refuse the files a shared recipe names that it may not (see the module's docstring)."""
    if recipe is None or not recipe.shared:
        return
    recorded = (recipe.document or {}).get("files") or {}
    root = Path(recipe.bundle.root).resolve() if recipe.bundle is not None else None
    for key, path in declared_files(spec):
        if spec.loaded is not None and spec.loaded.source_of(key) in RECEIVER_SOURCES:
            continue
        if _allowed(path, recorded.get(path), root):
            continue
        raise ConfigError(
            f"'{path}' is a file named by a shared recipe, which may only use files inside its bundle, pkg: "
            f"resources, or files of identical content to the ones its run recorded; to use a file of yours, "
            f"name it yourself: {key}=PATH",
            key=key,
            source=recipe.origin,
        )


def _allowed(path: str, recorded_sha: str | None, root: Path | None) -> bool:
    if path.startswith(PACKAGE_SCHEME):
        return True
    local = resolve_path(path)
    if root is not None and _inside(local, root):
        return True
    if recorded_sha and local.is_file():
        try:
            return sha256_of(local) == recorded_sha
        except OSError:
            return False
    return False


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True
