"""The identity of a file: its SHA-256, computed once per file and remembered by path, size and
modification time in ``$PIXENGINE_CACHE/sha256.json``, so the next run pays nothing for a
600 MB weight file it already hashed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..outputs import atomic_write
from ..weights import cache_dir

INDEX_NAME = "sha256.json"
_CHUNK = 1 << 20


def sha256_of(path: str | Path) -> str:
    """The file's SHA-256 (hex), from the index when the file has not changed since."""
    path = Path(path).resolve()
    stat = path.stat()
    key = str(path)
    index = _read_index()
    known = index.get(key)
    if known and known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns:
        return known["sha256"]
    digest = hash_file(path)
    index[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    _write_index(index)
    return digest


def hash_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def local_file_with(sha256: str) -> Path | None:
    """A file on this machine known to have ``sha256`` and unchanged since it was hashed."""
    for key, known in _read_index().items():
        if known.get("sha256") != sha256:
            continue
        try:
            stat = os.stat(key)
        except OSError:
            continue
        if stat.st_size == known.get("size") and stat.st_mtime_ns == known.get("mtime_ns"):
            return Path(key)
    return None


def _index_path() -> Path:
    return cache_dir() / INDEX_NAME


def _read_index() -> dict:
    try:
        data = json.loads(_index_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # absent or damaged: it is only a cache
    return data if isinstance(data, dict) else {}


def _write_index(index: dict) -> None:
    # Forget files that are gone (temporary inputs), so the index stays the size of what exists.
    index = {key: known for key, known in index.items() if os.path.exists(key)}
    try:
        atomic_write(_index_path(), lambda handle: handle.write(json.dumps(index, indent=0).encode()))
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
