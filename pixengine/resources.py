"""The path forms a recipe may use for a file: absolute, relative to the working directory, or
``pkg:PACKAGE/PATH`` for a file shipped inside an installed package
(``pkg:pixengine_presets/assets/chelsea.jpg``), which keeps shared configs portable."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from .errors import ConfigError

PACKAGE_SCHEME = "pkg:"


def resolve_path(path: str | Path) -> Path:
    """The file a recipe path names (it may not exist)."""
    text = str(path)
    if text.startswith(PACKAGE_SCHEME):
        package, _, inner = text[len(PACKAGE_SCHEME) :].partition("/")
        try:
            root = importlib.resources.files(package)
        except (ModuleNotFoundError, ValueError, TypeError):
            raise ConfigError(f"'{text}' names package '{package}', which is not installed") from None
        resolved = Path(str(root.joinpath(inner)))
        if ".." in Path(inner).parts:
            raise ConfigError(f"'{text}' leaves its package ('..' is not allowed in pkg: paths)")
        return resolved
    return Path(text).expanduser()
