"""Recipe bundles: one ``.zip`` that runs on someone else's machine without the sharer's files.

Layout (format 1)::

    manifest.json          what the recipe needs: pixengine and plugin versions, each weight
                           file's name and SHA-256 (weights are never bundled: they are large
                           and licensed apart), each bundled file's SHA-256 and size
    recipe.yaml            the resolved run document; every file it names is rewritten to
                           files/SHA256/NAME
    files/SHA256/NAME      the images, masks, init images... the recipe uses
    sources/NAME.yaml      the preset files it was made from, when they are not registered
                           presets (for reading; the recipe alone runs)

Reading a bundle is safe by construction: only those member names are accepted (no absolute
paths, no ``..``, no links), sizes and compression ratios are capped before anything is
decompressed, every file must match the SHA-256 its folder is named after, and the recipe is
read by the bounded YAML reader. Files are extracted once into a content-addressed store in the
cache (``$PIXENGINE_CACHE/bundles/files``), so running a bundle twice costs nothing and a run
from it keeps working after the ``.zip`` is gone.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .. import __version__
from ..api_version import API_VERSION
from ..errors import ConfigError
from ..outputs import atomic_write, parse_run_document, run_document
from ..weights import cache_dir
from .identity import hash_file

FORMAT = 1
MANIFEST = "manifest.json"
RECIPE = "recipe.yaml"
STORE = "bundles/files"

#: Caps checked from the zip's directory, before anything is decompressed.
MAX_BUNDLE_BYTES = 2 << 30
MAX_MEMBERS = 512
MAX_MEMBER_BYTES = 512 << 20
MAX_TOTAL_BYTES = 2 << 30
MAX_RATIO = 200  # uncompressed / compressed: images and YAML compress far less than this
MAX_MANIFEST_BYTES = 1 << 20

_FILE_MEMBER = re.compile(r"^files/([0-9a-f]{64})/([^/\\]+)$")
_SOURCE_MEMBER = re.compile(r"^sources/([^/\\]+\.ya?ml)$")
_DIRECTORIES = re.compile(r"^(files/|files/[0-9a-f]{64}/|sources/)$")


@dataclass
class OpenedBundle:
    path: Path
    #: The folder the bundle's files were extracted into (the content-addressed store).
    root: Path
    manifest: dict
    #: The run document, with its file names rewritten to the extracted files.
    document: dict


def _refuse(path: Path, problem: str) -> ConfigError:
    return ConfigError(f"not a safe pixengine bundle: {problem}", source=str(path))


def _checked_members(path: Path, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _refuse(path, f"{len(infos)} members, more than {MAX_MEMBERS}")
    seen, total, members = set(), 0, []
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name).parts
        if name.startswith(("/", "\\")) or "\\" in name or ".." in parts or ":" in name:
            raise _refuse(path, f"member '{name}' would be written outside the bundle")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(path, f"member '{name}' is a link")
        if name in seen:
            raise _refuse(path, f"member '{name}' appears twice")
        seen.add(name)
        if name.endswith("/"):
            if not _DIRECTORIES.match(name):
                raise _refuse(path, f"unexpected folder '{name}'")
            continue
        if name not in (MANIFEST, RECIPE) and not _FILE_MEMBER.match(name) and not _SOURCE_MEMBER.match(name):
            raise _refuse(path, f"unexpected member '{name}' (a bundle holds {MANIFEST}, {RECIPE}, files/ and sources/)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _refuse(path, f"member '{name}' uses an unsupported compression")
        if info.file_size > MAX_MEMBER_BYTES:
            raise _refuse(path, f"member '{name}' is {info.file_size} bytes, more than {MAX_MEMBER_BYTES}")
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1 << 20:
            raise _refuse(path, f"member '{name}' expands {info.file_size // max(info.compress_size, 1)}-fold (a zip bomb?)")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise _refuse(path, f"more than {MAX_TOTAL_BYTES} bytes in all")
        members.append(info)
    for required in (MANIFEST, RECIPE):
        if required not in seen:
            raise _refuse(path, f"it has no {required} (was it written by `pixengine share`?)")
    return members


def store_dir() -> Path:
    return cache_dir() / STORE


def _extract(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Path:
    """The member's file in the store, written there once and checked against its SHA-256."""
    sha, name = _FILE_MEMBER.match(info.filename).groups()
    target = store_dir() / sha / name
    if target.is_file() and hash_file(target) == sha:
        return target
    data = archive.read(info)  # bounded by the caps above; zipfile checks the CRC
    import hashlib

    if hashlib.sha256(data).hexdigest() != sha:
        raise _refuse(path, f"member '{info.filename}' does not match its SHA-256")
    atomic_write(target, lambda handle: handle.write(data))
    return target


def open_bundle(path: str | Path) -> OpenedBundle:
    """Check, read and extract a bundle (ConfigError naming the bundle and the problem)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"bundle '{path}' does not exist")
    if path.stat().st_size > MAX_BUNDLE_BYTES:
        raise _refuse(path, f"larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _refuse(path, f"not a zip file ({exc})") from None
    with archive:
        members = _checked_members(path, archive)
        manifest_info = archive.getinfo(MANIFEST)
        if manifest_info.file_size > MAX_MANIFEST_BYTES:
            raise _refuse(path, f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            manifest = json.loads(archive.read(MANIFEST))
        except (ValueError, zipfile.BadZipFile) as exc:
            raise _refuse(path, f"{MANIFEST} is not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _refuse(path, f"{MANIFEST} is not a pixengine bundle manifest of format {FORMAT}")
        document = parse_run_document(archive.read(RECIPE), f"{path} ({RECIPE})")
        extracted = {info.filename: _extract(path, archive, info) for info in members if _FILE_MEMBER.match(info.filename)}
    document = _rewrite(document, {member: str(local) for member, local in extracted.items()})
    return OpenedBundle(path=path, root=store_dir(), manifest=manifest, document=document)


def _rewrite(data: Any, names: dict[str, str]) -> Any:
    """``data`` with every bundle member name in its strings replaced by its extracted file."""
    if isinstance(data, dict):
        return {_rewrite(key, names): _rewrite(value, names) for key, value in data.items()}
    if isinstance(data, list):
        return [_rewrite(value, names) for value in data]
    if isinstance(data, str) and "files/" in data:
        for member, local in names.items():
            data = data.replace(member, local)
    return data


# -- writing --------------------------------------------------------------------------------


@dataclass
class WrittenBundle:
    path: Path
    manifest: dict
    #: (config key, file as the recipe named it, member name) for each bundled file.
    files: list[tuple[str, str, str]]


def _member_name(sha: str, filename: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("._") or "file"
    return f"files/{sha}/{safe}"


def write_bundle(source: str | Path, dest: str | Path, *, overrides: list[str] | None = None) -> WrittenBundle:
    """Bundle the recipe ``source`` (a preset name or file, a run folder, a PNG or a bundle)
    with every file it names into ``dest``."""
    from omegaconf import OmegaConf

    from ..api import resolve
    from ..options import file_options
    from ..plugins import get_registry
    from ..resources import resolve_path

    dest = Path(dest)
    if dest.suffix.lower() != ".zip":
        raise ConfigError(f"a bundle is a .zip file; '{dest}' is not")
    spec = resolve(source, overrides=overrides or [])
    registry = get_registry()
    recipe = spec.recipe
    config = OmegaConf.to_container(spec.config, resolve=True)
    config["output_dir"] = None

    members: dict[str, Path] = {}
    bundled: list[tuple[str, str, str]] = []
    for component in spec.components():
        section = _section(config, component.key)
        for name, declared in file_options(type(component.options)).items():
            if declared.kind == "weights":
                # Weights travel by identity (the manifest's SHA-256), not inside bundles: they
                # are large and have their own licences. The receiver's cache, download or
                # explicit path provides them.
                section[name] = None
                continue
            mapping = {}
            for named in declared.paths_in(section.get(name)):
                local = resolve_path(named)
                if not local.is_file():
                    raise ConfigError(
                        f"'{named}' does not exist here; a bundle carries every file its recipe names",
                        key=f"{component.key}.{name}",
                        source=recipe.origin or str(source),
                    )
                member = _member_name(hash_file(local), local.name)
                members[member] = local
                mapping[named] = member
                bundled.append((f"{component.key}.{name}", named, member))
            section[name] = declared.replace(section.get(name), mapping)

    recorded = recipe.metadata if recipe is not None else {}
    weights = recorded.get("weights") or _weights_here(spec)
    plugins = spec.plugin_versions(registry)
    manifest = {
        "format": FORMAT,
        "pixengine": __version__,
        "plugin_api": API_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "plugins": plugins,
        "weights": weights,
        "files": {member: {"sha256": member.split("/")[1], "size": local.stat().st_size} for member, local in members.items()},
    }
    for key in ("torch", "device", "seed", "status", "seconds"):
        if recorded.get(key) is not None:
            manifest[key] = recorded[key]
    metadata = {
        **{key: recorded[key] for key in ("status", "step", "steps", "seed", "device", "torch", "seconds") if key in recorded},
        "pixengine": __version__,
        "plugins": plugins,
        "weights": weights,
    }
    sources = _unregistered_sources(spec, registry)

    def write(handle) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
            archive.writestr(RECIPE, run_document(config, metadata))
            for member, local in sorted(members.items()):
                archive.write(local, member)
            for name, local in sources.items():
                archive.write(local, f"sources/{name}")

    atomic_write(dest, write)
    return WrittenBundle(path=dest, manifest=manifest, files=bundled)


def _section(config: dict, key: str) -> dict:
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def _weights_here(spec) -> dict:
    """Weight identities of a recipe that has none recorded (a preset): located, not loaded;
    weights absent here are left out (the receiver's run will name them)."""
    from ..errors import WeightsNotFoundError
    from .identity import sha256_of

    identities = {}
    for component in spec.components():
        try:
            files = component.entry.cls.weight_files(component.options, component.key)
        except WeightsNotFoundError:
            continue
        if files:
            identities[component.key] = {name: {"file": Path(p).name, "sha256": sha256_of(p)} for name, p in files.items()}
    return identities


def _unregistered_sources(spec, registry) -> dict[str, Path]:
    """The preset files the recipe was read from that are not registered presets."""
    registered = {entry.path.resolve() for entry in registry.presets.values()}
    sources = {}
    for read in (spec.loaded.files if spec.loaded else []):
        path = Path(read)
        if path.suffix in (".yaml", ".yml") and path.is_file() and path.resolve() not in registered:
            sources[re.sub(r"[^A-Za-z0-9._-]+", "_", path.name)] = path
    return sources
